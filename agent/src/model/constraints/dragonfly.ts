// The constraint inventory for dfdaemon.yaml, read from the Rust client that consumes it (dragonflyoss/client
// v1.5.1, dragonfly-client-config/src/dfdaemon.rs, and the code that uses each value) and from what it calls:
// humantime for durations, validator ranges, tokio and chrono where a value can make dfdaemon panic (release
// builds set panic = "abort", so a panic anywhere ends dfdaemon). No struct there has deny_unknown_fields: an
// unknown or misspelled key is ignored without a word, which is why mirrornet writes only the keys below.
// The renderer (desired/compile.ts), the rules (policy/rules/mirror-dragonfly.ts) and the lab's stand-in for
// dfdaemon (testbed/lab/dfdaemon-config.ts) read the numbers from here.
import type { Constraint, Upstream } from './types.js';

/** The Dragonfly client release every entry was read at (README, "Fidelity"). */
export const DRAGONFLY_CLIENT = { repo: 'dragonflyoss/client', ref: 'v1.5.1' } as const;

/** dfdaemon's own values for keys the file leaves out (mirrornet writes the disk marks: the documented ones differ). */
export const DFDAEMON_DEFAULTS = {
  /** Default_gc_policy_disk_high_threshold_percent (Dragonfly's documented dfdaemon.yaml shows 90). */
  diskHighThresholdPercent: 80,
  /** Default_gc_policy_disk_low_threshold_percent (the documented dfdaemon.yaml shows 70). */
  diskLowThresholdPercent: 60,
  proxyPort: 4001,
  /** Default_proxy_registry_mirror_addr: where a request that names no registry goes. */
  registryMirrorAddr: 'https://index.docker.io',
} as const;

/** Where dfdaemon reads its configuration (default_dfdaemon_config_path, on Linux). */
export const DFDAEMON_CONFIG = '/etc/dragonfly/dfdaemon.yaml';

/** The directory mirrornet gives dfdaemon when the region sets no storageDir (dfdaemon's own default). */
export const DFDAEMON_STORAGE_DIR = '/var/lib/dragonfly';

/** The proxy rule mirrornet writes: blobs go peer-to-peer, manifests straight to the registry (FACTS.md). */
export const DFDAEMON_BLOB_RULE = 'blobs/sha256.*';

/** The TCP ports dfdaemon binds on 0.0.0.0 by default besides its proxy (mirrornet leaves them at their defaults). */
export const DFDAEMON_OWN_PORTS: ReadonlyMap<number, string> = new Map([
  [4000, 'upload gRPC server (upload.server.port)'],
  [4002, 'metrics server (metrics.server.port)'],
  [4003, 'health server (health.server.port)'],
  [4004, 'stats server (stats.server.port)'],
  [4005, 'storage TCP server (storage.server.tcpPort)'],
]);

/** dfdaemon's percent thresholds: u8 fields with #[validate(range(min = 1, max = 99))]. */
export const DFDAEMON_PERCENT = { min: 1, max: 99 } as const;

/**
 * The longest taskTTL dfdaemon survives: the GC adds it to a task's last access time with chrono, whose
 * NaiveDateTime ends in the year 262143 and panics past it. 8e12 s (about 253,000 years) from today stays inside.
 */
export const TASK_TTL_MAX_SECONDS = 8_000_000_000_000n;

const CONFIG = 'dragonfly-client-config/src/dfdaemon.rs';
const client = (path: string, at: string): Upstream => ({ repo: DRAGONFLY_CLIENT.repo, path, ref: DRAGONFLY_CLIENT.ref, at });
const config = (at: string): Upstream => client(CONFIG, at);
const LOAD = client('dragonfly-client-config/src/dfdaemon.rs', 'Config::load: serde_yaml::from_str, then validate(); dfdaemon exits 1 on either');
const ABORT = client('Cargo.toml', '[profile.release] panic = "abort"');
const HUMANTIME: Upstream[] = [
  {
    repo: 'jean-airoldie/humantime-serde',
    path: 'src/lib.rs',
    ref: 'e5a0f8f2f059d93748f3358035d157b5e5f12df3',
    at: 'Serde<Duration>::deserialize (1.1.1): visit_str only',
  },
  { repo: 'chronotope/humantime', path: 'src/duration.rs', ref: 'v2.4.0', at: 'parse_duration' },
];
const DOCS: Upstream = {
  repo: 'dragonflyoss/d7y.io',
  path: 'docs/reference/configuration/client/dfdaemon.md',
  ref: 'd7d8782fb8c6053dbbb35270cdcec68a6b2654c9',
  at: 'the documented dfdaemon.yaml',
};
const SEARCHER: Upstream[] = [
  { repo: 'dragonflyoss/dragonfly', path: 'manager/searcher/searcher.go', ref: 'v2.5.1', at: 'calculateMultiElementAffinityScore, calculateIDCAffinityScore' },
  { repo: 'dragonflyoss/dragonfly', path: 'scheduler/scheduling/evaluator/evaluator_default.go', ref: 'v2.5.1', at: 'calculateLocationAffinityScore' },
  client('dragonfly-client/src/dynconfig/remote.rs', 'Remote::list_schedulers'),
];

const HUMANTIME_SYNTAX = 'humantime string: number + unit, several may follow each other (900s, 15m, 1h 30m, 720h, 1.5h); units ns us ms s m h d w M y';

export const DRAGONFLY_CONSTRAINTS: readonly Constraint[] = [
  {
    consumer: 'dragonfly-client',
    key: 'host.idc',
    type: 'string (Option<String>)',
    range: "any string; matched case-insensitively against the scheduler clusters' IDC scopes, where `|` separates alternatives",
    default: 'none (no IDC affinity); mirrornet writes the region name when the region sets none',
    from: ['Region.mirror.dragonfly.idc', 'Region.name'],
    upstream: [config('struct Host'), ...SEARCHER],
  },
  {
    consumer: 'dragonfly-client',
    key: 'host.location',
    type: 'string (Option<String>)',
    syntax: 'levels separated by |, most general first (overseas|de|frankfurt)',
    range: 'the manager and the scheduler compare the first 5 levels, case-insensitively, and ignore the rest; an empty level never matches',
    default: 'none (no location affinity); mirrornet writes <area>|<region> when the region sets none',
    from: ['Region.mirror.dragonfly.location', 'Region.area', 'Region.name'],
    rule: 'mirror/location',
    upstream: [config('struct Host'), ...SEARCHER],
  },
  {
    consumer: 'dragonfly-client',
    key: 'host.schedulerClusterID',
    type: 'u64 (Option<u64>)',
    range: '0-18446744073709551615; 0 and absent both mean "not set"',
    default: 'none (the documented dfdaemon.yaml shows 1 as an example): the manager picks the cluster by idc, location, hostname and ip',
    from: ['Region.mirror.dragonfly.schedulerClusterId'],
    note: 'when set, idc, location, hostname and ip are ignored when listing schedulers',
    upstream: [config('struct Host: scheduler_cluster_id'), client('dragonfly-client/src/dynconfig/remote.rs', 'Remote::list_schedulers'), DOCS],
  },
  {
    consumer: 'dragonfly-client',
    key: 'manager.addr',
    type: 'string (Option<String>)',
    syntax: 'URL parsed by url::Url and tonic Channel::from_shared: http://host:port',
    range:
      'http:// only, since mirrornet writes no manager.caCert/cert/key: with https:// and no TLS config tonic fails "Connecting to HTTPS without TLS ' +
      'enabled" and dfdaemon exits at start; without a port it dials 80 (the manager serves gRPC on 65003); a path is ignored',
    default: 'none: dfdaemon reads its schedulers from /etc/dragonfly/dynconfig.yaml instead',
    from: ['Region.mirror.dragonfly.manager'],
    rule: 'mirror/dragonfly-manager',
    upstream: [
      config('struct Manager'),
      client('dragonfly-client/src/grpc/manager.rs', 'ManagerClient::new'),
      client('dragonfly-client/src/dynconfig/mod.rs', 'Dynconfig::backend'),
      { repo: 'hyperium/tonic', path: 'tonic/src/transport/channel/service/connector.rs', ref: 'v0.14.2', at: 'HttpsUriWithoutTlsSupport' },
      { repo: 'hyperium/tonic', path: 'tonic/src/transport/channel/service/add_origin.rs', ref: 'v0.14.2', at: 'AddOrigin::call (scheme and authority only)' },
    ],
  },
  {
    consumer: 'dragonfly-client',
    key: 'seedPeer.enable',
    type: 'bool',
    default: "false (the documented dfdaemon.yaml, a seed peer's, shows true); mirrornet writes false: a region's peers are normal peers",
    from: [],
    upstream: [config('struct SeedPeer, impl Default for SeedPeer'), DOCS],
  },
  {
    consumer: 'dragonfly-client',
    key: 'seedPeer.type',
    type: 'enum HostType',
    range: 'one of normal, super; anything else refuses the file',
    default: "normal when seedPeer is absent, but super (HostType's #[default]) when seedPeer is present without type: mirrornet always writes normal",
    from: [],
    upstream: [config('enum HostType, struct SeedPeer (#[serde(default, rename = "type")])'), LOAD],
  },
  {
    consumer: 'dragonfly-client',
    key: 'storage.dir',
    type: 'path (PathBuf)',
    range: "any path; a relative one is relative to dfdaemon's working directory (the model takes absolute paths only)",
    default: '/var/lib/dragonfly/; mirrornet writes /var/lib/dragonfly when the region sets none',
    from: ['Region.mirror.dragonfly.storageDir'],
    upstream: [config('struct Storage'), client('dragonfly-client-config/src/lib.rs', 'default_storage_dir')],
  },
  {
    consumer: 'dragonfly-client',
    key: 'storage.keep',
    type: 'bool',
    default:
      'false: a restart deletes every cached task (the documented dfdaemon.yaml shows true). mirrornet restarts dfdaemon on every change of ' +
      'dfdaemon.yaml, so it writes true: a settings change must not make the region fetch every layer from the core again',
    from: [],
    upstream: [config('struct Storage, default_storage_keep'), DOCS],
  },
  {
    consumer: 'dragonfly-client',
    key: 'gc.interval',
    type: 'duration (std::time::Duration via humantime_serde)',
    syntax: HUMANTIME_SYNTAX,
    range:
      'a string humantime parses (a bare number such as 900 is refused: "time unit needed"), and above zero: tokio::time::interval panics on ' +
      'a zero period and dfdaemon aborts at start',
    default: '900s (as documented)',
    from: ['Region.mirror.dragonfly.gc.interval'],
    rule: 'mirror/dragonfly-duration',
    note: "mirrornet writes the repository's duration as it is: its units (ms, s, m, h, d) are humantime units, so nothing is rounded",
    upstream: [
      config('struct GC'),
      client('dragonfly-client/src/gc/mod.rs', 'GC::run: tokio::time::interval(config.gc.interval)'),
      { repo: 'tokio-rs/tokio', path: 'tokio/src/time/interval.rs', ref: 'tokio-1.53.1', at: 'interval: assert!(period > Duration::new(0, 0))' },
      ABORT,
      ...HUMANTIME,
    ],
  },
  {
    consumer: 'dragonfly-client',
    key: 'gc.policy.taskTTL',
    type: 'duration (std::time::Duration via humantime_serde)',
    syntax: HUMANTIME_SYNTAX,
    range:
      'a string humantime parses; above zero (0 evicts every task at each GC run: the region keeps no cache); at most about 253,000 years ' +
      "(8e12 s): the GC adds it to a task's last access time with chrono, which panics past the year 262143, and dfdaemon aborts",
    default: '720h (30 days, as documented)',
    from: ['Region.mirror.dragonfly.gc.taskTTL'],
    rule: 'mirror/dragonfly-duration',
    upstream: [
      config('struct Policy: task_ttl (rename = "taskTTL")'),
      client('dragonfly-client/src/gc/mod.rs', 'GC::evict_task_by_ttl'),
      client('dragonfly-client-storage/src/metadata.rs', 'Task::is_expired: updated_at + ttl'),
      { repo: 'chronotope/chrono', path: 'src/naive/datetime/mod.rs', ref: 'v0.4.45', at: 'impl Add<Duration> for NaiveDateTime' },
      ABORT,
      ...HUMANTIME,
    ],
  },
  {
    consumer: 'dragonfly-client',
    key: 'gc.policy.diskHighThresholdPercent',
    type: 'u8',
    range: 'a whole number 1-99 (#[validate(range(min = 1, max = 99))]): 0, 100 or 85.5 refuse the file and dfdaemon exits at start',
    requires: ['gc.policy.diskLowThresholdPercent below it'],
    default: '80 (the documented dfdaemon.yaml shows 90): mirrornet writes 80 when the region sets none, so the file says what runs',
    from: ['Region.mirror.dragonfly.gc.diskHighThresholdPercent'],
    rule: 'mirror/gc',
    upstream: [config('struct Policy'), client('dragonfly-client/src/gc/mod.rs', 'GC::evict_task_by_disk_usage'), LOAD, DOCS],
  },
  {
    consumer: 'dragonfly-client',
    key: 'gc.policy.diskLowThresholdPercent',
    type: 'u8',
    range:
      'a whole number 1-99 (validator), below the high mark: the GC frees (usage - low)% of the disk in u8 arithmetic, which wraps when the ' +
      'low mark is above the usage that started it, and then evicts every task',
    default: '60 (the documented dfdaemon.yaml shows 70): mirrornet writes 60 when the region sets none',
    from: ['Region.mirror.dragonfly.gc.diskLowThresholdPercent'],
    rule: 'mirror/gc',
    upstream: [config('struct Policy'), client('dragonfly-client/src/gc/mod.rs', 'GC::evict_task_by_disk_usage'), LOAD, DOCS],
  },
  {
    consumer: 'dragonfly-client',
    key: 'proxy.server.port',
    type: 'u16',
    range:
      '1-65535, not a port dfdaemon binds itself on 0.0.0.0 (upload 4000, metrics 4002, health 4003, stats 4004, storage TCP 4005): the second ' +
      'bind fails and dfdaemon exits',
    default: '4001 (as documented)',
    from: ['Region.mirror.dragonfly.proxyPort'],
    rule: 'mirror/dragonfly-port',
    note: "65001 was the old Go client's proxy port (mirror/legacy-proxy-port warns); containerd's hosts.toml points at http://127.0.0.1:<port>",
    upstream: [
      config("struct ProxyServer, and the other servers' default ports"),
      client('dragonfly-client/src/proxy/mod.rs', 'Proxy::run: TcpListener::bind'),
    ],
  },
  {
    consumer: 'dragonfly-client',
    key: 'proxy.rules[].regex',
    type: 'regex (regex::Regex via serde_regex)',
    syntax: 'Rust regex crate syntax (no look-around, no backreferences), matched anywhere in the request URL without its query',
    range: 'a pattern that does not compile refuses the file',
    default: 'no rules at all (proxy.rules absent): no request goes peer-to-peer. The documented dfdaemon.yaml has blobs/sha256.*, which mirrornet writes',
    from: [],
    upstream: [config('struct Rule, struct Proxy'), client('dragonfly-client/src/proxy/mod.rs', 'find_matching_rule'), DOCS],
  },
  {
    consumer: 'dragonfly-client',
    key: 'proxy.registryMirror.addr',
    type: 'string',
    syntax: 'scheme://host[:port] with no path or trailing slash: dfdaemon appends the request path to it',
    range: "used only when a request names no registry: the X-Dragonfly-Registry header comes first, then containerd's ns query parameter",
    default: 'https://index.docker.io (as documented); mirrornet writes the origin of the first Harbor the region mirrors',
    from: ['Region.mirror.registries', 'HarborInstance.externalUrl'],
    upstream: [config('struct RegistryMirror'), client('dragonfly-client/src/proxy/mod.rs', 'make_registry_mirror_request')],
  },
  {
    consumer: 'dragonfly-client',
    key: 'proxy.disableBackToSource',
    type: 'bool',
    default: 'false (as documented): a download the peers cannot serve falls back to the registry',
    from: ['Region.mirror.dragonfly.disableBackToSource'],
    note: 'replaces scheduler.enableBackToSource of older documentation, which the client no longer reads',
    upstream: [config('struct Proxy')],
  },
];
