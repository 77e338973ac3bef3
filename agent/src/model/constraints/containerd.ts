// containerd's hosts.toml (<config_path>/<registry>/hosts.toml), as containerd's own code reads it: every key
// mirrornet writes, read from remotes/docker/config/hosts.go (1.6, 1.7) and core/remotes/docker/config/hosts.go
// (2.x). A host table is written `host."<url>"`; its entries are keyed `host.*` here. What all versions share:
// a file that fails to decode (bad TOML, an unknown capability, a dial_timeout Go cannot parse) is logged
// ("failed to decode hosts.toml") and dropped whole — containerd then pulls straight from the registry; an
// unknown key is ignored without a word (go-toml's Unmarshal, v1 in 1.x and v2 in 2.x, keeps no strict mode).
// Keys containerd reads that mirrornet does not write: `ca` and `client` (a path, a list of paths, or a list of
// [cert, key] pairs, relative to the registry's directory), `skip_verify` (bool) and `override_path` (bool: no
// `/v2` appended to the host's path).
import type { Constraint } from './types.js';

const HOSTS_GO_1X = 'remotes/docker/config/hosts.go';
const HOSTS_GO_2X = 'core/remotes/docker/config/hosts.go';
const REPO = 'containerd/containerd';

export const DIAL_TIMEOUT = 'host.*.dial_timeout';

export const CONTAINERD_CONSTRAINTS: readonly Constraint[] = [
  {
    consumer: 'containerd',
    key: 'server',
    type: 'string',
    syntax: 'URL; `https://` is prepended when it does not start with `http`',
    range: 'any URL Go url.Parse takes (an error drops the whole file); `/v2` is appended to its path unless override_path',
    default: 'the registry of the directory over https (docker.io: https://registry-1.docker.io), with pull, resolve and push',
    from: ['HarborInstance.externalUrl (scheme and host)'],
    note: 'Tried last, after every host table, with all capabilities: the direct fallback when dfdaemon is down.',
    upstream: [
      { repo: REPO, path: HOSTS_GO_2X, ref: 'v2.3.4', at: 'parseHostsFile, parseHostConfig' },
      { repo: REPO, path: HOSTS_GO_1X, ref: 'v1.6.20', at: 'parseHostsFile, parseHostConfig' },
    ],
  },
  {
    consumer: 'containerd',
    key: 'host.*',
    type: 'table, keyed by URL',
    syntax: 'URL (`http://127.0.0.1:4001`); `https://` is prepended when it does not start with `http`',
    range: 'any URL Go url.Parse takes (an error drops the whole file); hosts are tried in the order of the file, before `server`',
    from: ['Region.mirror.dragonfly.proxyPort'],
    note:
      '2.x finds the order from the `[host."..."]` table headers (getSortedHosts, go-toml unstable parser): a host written as an ' +
      'inline table is not a host there. mirrornet writes table headers (smol-toml).',
    upstream: [
      { repo: REPO, path: HOSTS_GO_2X, ref: 'v2.3.4', at: 'getSortedHosts' },
      { repo: REPO, path: HOSTS_GO_1X, ref: 'v1.6.20', at: 'getSortedHosts' },
    ],
  },
  {
    consumer: 'containerd',
    key: 'host.*.capabilities',
    type: '[]string',
    range:
      'pull, resolve, push (every version; case-insensitive), referrers (2.2 and later); any other value is "unknown capability" and drops ' + 'the whole file',
    default: 'all of them (pull, resolve, push; and referrers since 2.2)',
    from: [],
    note: 'mirrornet writes ["pull", "resolve"]: dfdaemon never receives a push.',
    upstream: [
      { repo: REPO, path: HOSTS_GO_2X, ref: 'v2.2.0', at: 'parseHostConfig (referrers added)' },
      { repo: REPO, path: HOSTS_GO_1X, ref: 'v1.6.20', at: 'parseHostConfig' },
    ],
  },
  {
    consumer: 'containerd',
    key: DIAL_TIMEOUT,
    type: 'duration',
    syntax: 'Go time.ParseDuration (ns, us, ms, s, m, h; no d)',
    range:
      '> 0 and <= 2562047h (2^63-1 ns). 0 is net.Dialer{Timeout: 0}: no timeout of its own, the kernel TCP connect timeout (about 2 min ' +
      'on Linux) decides. Beyond the maximum, or a unit Go does not know, ParseDuration fails and the whole file is dropped.',
    default: "30s (the transport's dialer, docker.DefaultHTTPTransport)",
    from: ['Region.mirror.dialTimeout'],
    rule: 'mirror/dial-timeout',
    note: 'Read since containerd 2.1.0 and 2.0.7; 1.6, 1.7 and 2.0.0-2.0.6 ignore it silently (plan note from `containerd --version`).',
    upstream: [
      { repo: REPO, path: HOSTS_GO_2X, ref: 'v2.1.0', at: 'hostFileConfig.DialTimeout, parseHostConfig, ConfigureHosts' },
      { repo: REPO, path: HOSTS_GO_2X, ref: 'v2.0.7', at: 'hostFileConfig.DialTimeout (backport of b50cbbc98)' },
      { repo: REPO, path: HOSTS_GO_1X, ref: 'v1.7.34', at: 'hostFileConfig: no dial_timeout' },
      { repo: REPO, path: 'core/remotes/docker/registry.go', ref: 'v2.1.0', at: 'DefaultHTTPTransport' },
    ],
  },
  {
    consumer: 'containerd',
    key: 'host.*.header.X-Dragonfly-Registry',
    type: 'string or []string (header values)',
    range: 'any other type drops the whole file ("invalid type ... for header")',
    from: ['HarborInstance.externalUrl (scheme and host)'],
    note: 'Sent with every request to that host (and its token requests); dfdaemon picks the upstream registry from it.',
    upstream: [
      { repo: REPO, path: HOSTS_GO_2X, ref: 'v2.3.4', at: 'parseHostConfig (Header)' },
      { repo: REPO, path: HOSTS_GO_1X, ref: 'v1.6.20', at: 'parseHostConfig (Header)' },
    ],
  },
];

/** A containerd release, from `containerd --version`. */
export interface ContainerdVersion {
  major: number;
  minor: number;
  patch: number;
}

/** The keys not every containerd with hosts.toml reads: the first release of each line that reads them. */
const READ_SINCE: Readonly<Record<string, { since: ContainerdVersion; backports: ContainerdVersion[]; effect: string }>> = {
  [DIAL_TIMEOUT]: {
    since: { major: 2, minor: 1, patch: 0 },
    backports: [{ major: 2, minor: 0, patch: 7 }],
    effect:
      "Region.mirror.dialTimeout has no effect here: when dfdaemon's port does not answer, a pull waits up to containerd's built-in 30s " +
      'dial timeout before it falls back to the registry',
  },
};

const text = (v: ContainerdVersion) => `${v.major}.${v.minor}.${v.patch}`;
const atLeast = (v: ContainerdVersion, w: ContainerdVersion) =>
  v.major !== w.major ? v.major > w.major : v.minor !== w.minor ? v.minor > w.minor : v.patch >= w.patch;

/** Whether a written key needs a containerd release check at all. */
export function versionDependent(key: string): boolean {
  return key in READ_SINCE;
}

/** Which releases read a version-dependent key, in words: `dial_timeout (containerd 2.1.0 and later, 2.0.7 and later in the 2.0 line)`. */
export function readersOf(key: string): string {
  const r = READ_SINCE[key];
  const name = key.slice(key.lastIndexOf('.') + 1);
  if (!r) return name;
  const lines = [`${text(r.since)} and later`, ...r.backports.map((b) => `${text(b)} and later in the ${b.major}.${b.minor} line`)];
  return `${name} (containerd ${lines.join(', ')})`;
}

/** For each written key this containerd ignores, a sentence for the plan: which releases read it and what is lost. */
export function containerdIgnores(keys: Iterable<string>, version: ContainerdVersion): string[] {
  const out: string[] = [];
  for (const key of new Set(keys)) {
    const r = READ_SINCE[key];
    if (!r || atLeast(version, r.since)) continue;
    if (r.backports.some((b) => b.major === version.major && b.minor === version.minor && version.patch >= b.patch)) continue;
    out.push(`containerd ${text(version)} on this host ignores ${readersOf(key)} in hosts.toml: ${r.effect}. Upgrade containerd to use it.`);
  }
  return out;
}
