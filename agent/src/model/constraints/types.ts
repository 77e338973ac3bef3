// The shape of the constraint inventory (issue 11): for every key mirrornet writes to a consumer — a file a
// service reads (dfdaemon.yaml, hosts.toml, daemon.json, harbor.yml) or a request an API takes (Harbor, Huawei
// Cloud VPC) — what the consumer's own code accepts, read from that code, with the upstream file named so
// that a new upstream version can be checked entry by entry. One file per consumer holds its entries and the
// values they describe (limits, defaults, checks); validation rules, renderers and emulators read those values,
// and the tests hold each consumer's entries against what the renderers write and the rules refuse, so the
// repository, the agent and the test bed agree with the consumer and with each other.

/** The programs and APIs mirrornet writes to, each at the version its rendering targets (README, "Fidelity"). */
export type Consumer =
  | 'dragonfly-client' // dfdaemon.yaml, read by the Rust client (dragonflyoss/client, dragonfly-client-config)
  | 'containerd' // <config_path>/<registry>/hosts.toml (containerd core/remotes/docker/config)
  | 'docker' // /etc/docker/daemon.json (moby daemon/config)
  | 'harbor-prepare' // harbor.yml, read by Harbor's installer (make/photon/prepare)
  | 'distribution-s3' // the storage_service.s3 settings, read by the distribution S3 driver Harbor ships
  | 'harbor-api' // Harbor's v2.0 API (src/server/v2.0/handler, src/pkg)
  | 'huaweicloud-vpc'; // Huawei Cloud VPC route tables (v2.0 API)

/** A file in an upstream repository, at the tag or commit that was read. */
export interface Upstream {
  repo: string;
  path: string;
  ref: string;
  /** The function, type or line range that decides, when the file is long. */
  at?: string;
}

export interface Constraint {
  consumer: Consumer;
  /** The key as the consumer sees it: a dotted path in its file (`proxy.registryMirror.addr`), or `METHOD /path body.field`. */
  key: string;
  /** The type the consumer parses it into: `u16`, `string`, `bool`, `duration`, `[]string`, ... */
  type: string;
  /** The syntax it takes, when a string encodes something: `humantime (1s, 5m, 1h30m)`, `Go time.ParseDuration`, `cron (6 fields)`. */
  syntax?: string;
  /** Values it accepts: `1-65535`, `> 0`, one of `a, b`; and what happens outside (refused, clamped, ignored). */
  range?: string;
  /** Keys that must be set with it for it to have an effect. */
  requires?: string[];
  /** The consumer's default when the key is absent (and, if it differs, the documented default of the template). */
  default?: string;
  /** The model fields of the repository that the value comes from (`Region.mirror.dialTimeout`); empty when mirrornet sets it itself. */
  from: string[];
  /** The rule that checks what a repository value can break, when one can (`mirror/dragonfly-duration`). */
  rule?: string;
  /** Anything else the consumer does with it that a reader must know (version differences, silent ignores). */
  note?: string;
  upstream: Upstream[];
}
