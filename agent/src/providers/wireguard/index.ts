// WireGuard: one interface per link (names unique on the machine), private key from its secret reference,
// listen port, one peer with the CIDRs routed over the link, MTU from the link, MSS clamping. Uses the
// kernel when it can, else wireguard-go (userspace).
import { MirrornetError } from '../../errors.js';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Desired, DesiredWireguard } from '../../desired/types.js';
import type { ApplyOutcome, Change, Provider, ProviderContext } from '../types.js';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { IpLinks, parseWgDump, parseWgDumpAll, type WgDump } from './schema.js';

export interface ActualInterface {
  name: string;
  mtu?: number;
  up: boolean;
  wg?: WgDump;
  /** 'pmtu', an MSS number, or undefined when no clamping rule exists. */
  mss?: 'pmtu' | number;
}

export interface ActualWireguard {
  interfaces: Map<string, ActualInterface>;
  /** Public key derived from each desired interface's private key (the private key itself is not kept). */
  desiredPublicKeys: Map<string, string>;
  /** Interfaces that could not be compared because their secret is missing. */
  secretErrors: Map<string, string>;
}

const MSS_COMMENT = (name: string) => `mirrornet-mss-${name}`;

function wantedMss(w: DesiredWireguard): 'pmtu' | number | undefined {
  if (w.mssClamp === true) return 'pmtu';
  if (typeof w.mssClamp === 'number') return w.mssClamp;
  return undefined;
}

function describeInterface(w: DesiredWireguard, publicKey?: string): Record<string, unknown> {
  return {
    interface: w.name,
    link: w.linkId,
    listenPort: w.listenPort,
    mtu: w.mtu,
    ...(publicKey ? { publicKey } : {}),
    peer: w.peer,
    mssClamp: w.mssClamp,
  };
}

/** Where a plan shows an interface's settings (they are set with `wg set` and `ip link`, not written to a file). */
export function wireguardSettingsPath(name: string): string {
  return `wireguard:${name}`;
}

interface WgSettings {
  name: string;
  /** `PrivateKey = env:REF` (a pull request) or `PublicKey = <derived>` (a host plan): never a private key's value. */
  key: readonly [string, string];
  listenPort?: number;
  mtu?: number;
  mss?: 'pmtu' | number;
  up?: boolean;
  peers: readonly { publicKey: string; endpoint?: string; allowedIps: readonly string[]; persistentKeepalive?: number }[];
}

/** An interface's settings in wg-quick's layout, for a person to compare. Pure. */
function renderSettings(s: WgSettings): string {
  const lines = ['[Interface]', `# ${s.name}`, `${s.key[0]} = ${s.key[1]}`];
  if (s.listenPort !== undefined) lines.push(`ListenPort = ${s.listenPort}`);
  if (s.mtu !== undefined) lines.push(`MTU = ${s.mtu}`);
  lines.push(`MSSClamp = ${s.mss ?? 'off'}`);
  if (s.up !== undefined) lines.push(`State = ${s.up ? 'up' : 'down'}`);
  for (const p of s.peers) {
    lines.push('', '[Peer]', `PublicKey = ${p.publicKey}`);
    if (p.endpoint) lines.push(`Endpoint = ${p.endpoint}`);
    lines.push(`AllowedIPs = ${[...p.allowedIps].sort().join(', ')}`);
    if (p.persistentKeepalive) lines.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The desired settings of an interface: with its private key's reference (a pull request), or the public key
 * derived from it on the host (a host plan, compared with what `wg show` reads). Pure.
 */
export function renderWireguardSettings(w: DesiredWireguard, publicKey?: string): string {
  return renderSettings({
    name: w.name,
    key: publicKey !== undefined ? ['PublicKey', publicKey] : ['PrivateKey', w.privateKey],
    listenPort: w.listenPort,
    mtu: w.mtu,
    ...(wantedMss(w) !== undefined ? { mss: wantedMss(w)! } : {}),
    ...(publicKey !== undefined ? { up: true } : {}),
    peers: [w.peer],
  });
}

function actualSettings(have: ActualInterface): string {
  return renderSettings({
    name: have.name,
    key: ['PublicKey', have.wg?.publicKey || '(none)'],
    ...(have.wg ? { listenPort: have.wg.listenPort } : {}),
    ...(have.mtu !== undefined ? { mtu: have.mtu } : {}),
    ...(have.mss !== undefined ? { mss: have.mss } : {}),
    up: have.up,
    peers: have.wg?.peers ?? [],
  });
}

function diffWireguard(desired: Desired, actual: ActualWireguard, owned: ReadonlySet<string>): Change[] {
  const changes: Change[] = [];
  const wanted = new Set<string>();
  for (const w of desired.wireguard) {
    wanted.add(w.name);
    const have = actual.interfaces.get(w.name);
    const pub = actual.desiredPublicKeys.get(w.name);
    const after = describeInterface(w, pub);
    const secretError = actual.secretErrors.get(w.name);
    if (secretError) {
      changes.push({ provider: 'wireguard', id: w.name, action: have ? 'update' : 'create', reason: secretError, after, data: w });
      continue;
    }
    if (!have || !have.wg) {
      changes.push({
        provider: 'wireguard',
        id: w.name,
        action: 'create',
        reason: `tunnel to ${w.remoteSite} (${w.linkId}) does not exist`,
        after,
        data: w,
        file: { path: wireguardSettingsPath(w.name), after: renderWireguardSettings(w, pub ?? '(from the private key)') },
      });
      continue;
    }
    const reasons: string[] = [];
    if (!have.up) reasons.push('interface is down');
    if (have.mtu !== w.mtu) reasons.push(`MTU is ${have.mtu}, want ${w.mtu}`);
    if (have.wg.listenPort !== w.listenPort) reasons.push(`listen port is ${have.wg.listenPort}, want ${w.listenPort}`);
    if (pub && have.wg.publicKey !== pub) reasons.push('private key differs from the secret');
    const peers = have.wg.peers;
    const peer = peers.find((p) => p.publicKey === w.peer.publicKey);
    if (!peer) reasons.push(`peer ${w.peer.publicKey.slice(0, 8)}… is missing`);
    else {
      if (peer.allowedIps.join(',') !== [...w.peer.allowedIps].sort().join(','))
        reasons.push(`allowed IPs are ${peer.allowedIps.join(',') || 'empty'}, want ${w.peer.allowedIps.join(',')}`);
      if (w.peer.endpoint && peer.endpoint !== w.peer.endpoint) reasons.push(`endpoint is ${peer.endpoint ?? 'unset'}, want ${w.peer.endpoint}`);
      if ((peer.persistentKeepalive ?? 0) !== (w.peer.persistentKeepalive ?? 0))
        reasons.push(`keepalive is ${peer.persistentKeepalive ?? 'off'}, want ${w.peer.persistentKeepalive ?? 'off'}`);
    }
    const extra = peers.filter((p) => p.publicKey !== w.peer.publicKey);
    if (extra.length) reasons.push(`${extra.length} unknown peer(s)`);
    if (have.mss !== wantedMss(w)) reasons.push(`MSS clamping is ${have.mss ?? 'off'}, want ${wantedMss(w) ?? 'off'}`);
    if (reasons.length) {
      changes.push({
        provider: 'wireguard',
        id: w.name,
        action: 'update',
        reason: reasons.join('; '),
        before: {
          interface: w.name,
          listenPort: have.wg.listenPort,
          mtu: have.mtu,
          publicKey: have.wg.publicKey,
          peers: peers.map((p) => ({ publicKey: p.publicKey, endpoint: p.endpoint, allowedIps: p.allowedIps })),
          mss: have.mss,
        },
        after,
        data: w,
        file: { path: wireguardSettingsPath(w.name), before: actualSettings(have), after: renderWireguardSettings(w, pub) },
      });
    } else {
      changes.push({ provider: 'wireguard', id: w.name, action: 'noop', reason: 'in sync', after });
    }
  }
  for (const name of owned) {
    if (wanted.has(name)) continue;
    if (actual.interfaces.has(name)) {
      changes.push({
        provider: 'wireguard',
        id: name,
        action: 'delete',
        reason: `the link of ${name} is no longer in the repository`,
        before: { interface: name },
        data: { name },
        file: { path: wireguardSettingsPath(name), before: actualSettings(actual.interfaces.get(name)!) },
      });
    }
  }
  return changes;
}

/**
 * Every wanted interface with two commands, whatever their number: one `ip -j link show` and one
 * `wg show all dump` (an interface missing from the latter is asked on its own).
 */
async function readInterfaces(ctx: ProviderContext, names: ReadonlySet<string>): Promise<Map<string, ActualInterface>> {
  const out = new Map<string, ActualInterface>();
  if (names.size === 0) return out;
  const links = await ctx.exec.run('ip', ['-j', 'link', 'show'], { allowFail: true });
  const parsed = IpLinks.safeParse(JSON.parse(links.stdout || '[]'));
  for (const info of parsed.success ? parsed.data : []) {
    if (!names.has(info.ifname)) continue;
    out.set(info.ifname, { name: info.ifname, up: Boolean(info.flags?.includes('UP')), ...(info.mtu !== undefined ? { mtu: info.mtu } : {}) });
  }
  if (out.size === 0) return out;
  const all = await ctx.exec.run('wg', ['show', 'all', 'dump'], { allowFail: true });
  const dumps = parseWgDumpAll(all.stdout);
  for (const iface of out.values()) {
    const dump = dumps.get(iface.name);
    if (dump) iface.wg = dump;
    else {
      const one = await ctx.exec.run('wg', ['show', iface.name, 'dump'], { allowFail: true });
      if (one.code === 0) iface.wg = parseWgDump(one.stdout);
    }
  }
  return out;
}

async function readMss(ctx: ProviderContext): Promise<Map<string, 'pmtu' | number>> {
  const out = new Map<string, 'pmtu' | number>();
  const res = await ctx.exec.run('iptables', ['-w', '-t', 'mangle', '-S', 'FORWARD'], { allowFail: true });
  if (res.code !== 0) return out;
  for (const line of res.stdout.split('\n')) {
    const comment = /--comment "?mirrornet-mss-([^"\s]+)"?/.exec(line)?.[1];
    if (!comment) continue;
    const set = /--set-mss (\d+)/.exec(line)?.[1];
    out.set(comment, set ? Number(set) : 'pmtu');
  }
  return out;
}

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The WireGuard public key of a private key (X25519), computed in-process like `wg pubkey`. */
function publicKeyOf(privateKey: string): string {
  const raw = Buffer.from(privateKey.trim(), 'base64');
  if (raw.length !== 32) throw new Error('not a WireGuard private key (32 bytes of base64)');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
}

function mssArgs(name: string, mss: 'pmtu' | number): string[] {
  return [
    'FORWARD',
    '-o',
    name,
    '-p',
    'tcp',
    '--tcp-flags',
    'SYN,RST',
    'SYN',
    '-m',
    'comment',
    '--comment',
    MSS_COMMENT(name),
    '-j',
    'TCPMSS',
    ...(mss === 'pmtu' ? ['--clamp-mss-to-pmtu'] : ['--set-mss', String(mss)]),
  ];
}

/** Make the interface's clamping rule exactly `wanted`: every existing copy goes first (no duplicates). */
async function setMss(ctx: ProviderContext, name: string, wanted: 'pmtu' | number | undefined): Promise<void> {
  const res = await ctx.exec.run('iptables', ['-w', '-t', 'mangle', '-S', 'FORWARD'], { allowFail: true });
  const existing = res.code === 0 ? res.stdout.split('\n').filter((l) => l.startsWith('-A FORWARD ') && l.includes(MSS_COMMENT(name))) : [];
  if (wanted !== undefined && existing.length === 1) {
    const set = /--set-mss (\d+)/.exec(existing[0]!)?.[1];
    if ((set ? Number(set) : 'pmtu') === wanted) return;
  }
  for (const line of existing) {
    const args = line
      .replace(/^-A /, '')
      .split(/\s+/)
      .map((a) => a.replace(/^"|"$/g, ''));
    await ctx.exec.run('iptables', ['-w', '-t', 'mangle', '-D', ...args], { allowFail: true });
  }
  if (wanted !== undefined) await ctx.exec.run('iptables', ['-w', '-t', 'mangle', '-A', ...mssArgs(name, wanted)]);
}

/** How this host runs a tunnel: the kernel's WireGuard (and why it is known to be there) or wireguard-go (its path). */
export type WireguardImplementation = { kind: 'kernel'; how: string } | { kind: 'wireguard-go'; path: string };

/**
 * What createLink below would end up using, found without creating anything (for `mirrornet doctor`): the kernel
 * module when it is loaded or built in (/sys/module/wireguard) or `modprobe --dry-run` finds it, else
 * wireguard-go when it is in PATH; undefined when neither.
 */
export async function wireguardImplementation(
  ctx: Pick<ProviderContext, 'exec' | 'files'>,
  inPath: (program: string) => Promise<string | undefined>,
): Promise<WireguardImplementation | undefined> {
  if (await ctx.files.exists('/sys/module/wireguard')) return { kind: 'kernel', how: 'module loaded' };
  const modprobe = await inPath('modprobe');
  const probe = modprobe
    ? await ctx.exec.run(modprobe, ['--dry-run', '--quiet', 'wireguard'], { allowFail: true, hostNamespace: true, timeoutMs: 10_000 }).catch(() => undefined)
    : undefined;
  if (probe?.code === 0) return { kind: 'kernel', how: 'module available, loaded on first use' };
  const path = await inPath('wireguard-go');
  return path ? { kind: 'wireguard-go', path } : undefined;
}

async function createLink(ctx: ProviderContext, name: string): Promise<void> {
  const kernel = await ctx.exec.run('ip', ['link', 'add', 'dev', name, 'type', 'wireguard'], { allowFail: true });
  if (kernel.code === 0) return;
  // No kernel module: the userspace implementation. Its control socket is per machine, not per namespace.
  // LOG_LEVEL=silent: with logging on, the daemonized wireguard-go keeps our stdout/stderr open.
  await ctx.exec.run('wireguard-go', [name], { env: { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', LOG_LEVEL: 'silent' } });
}

/**
 * `wg set ... private-key FILE` reads the key from a file; Node gives children sockets, not pipes, so
 * /dev/stdin does not work. The key goes into a 0600 file in a private 0700 directory, removed at once.
 */
async function withKeyFile<T>(privateKey: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mirrornet-wg-'));
  try {
    await chmod(dir, 0o700);
    const path = join(dir, 'key');
    await writeFile(path, `${privateKey}\n`, { mode: 0o600 });
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function configure(ctx: ProviderContext, w: DesiredWireguard, have: ActualInterface | undefined): Promise<void> {
  const privateKey = await ctx.secrets.resolve(w.privateKey);
  await withKeyFile(privateKey, (path) => ctx.exec.run('wg', ['set', w.name, 'listen-port', String(w.listenPort), 'private-key', path]));
  for (const p of have?.wg?.peers ?? []) {
    if (p.publicKey !== w.peer.publicKey) await ctx.exec.run('wg', ['set', w.name, 'peer', p.publicKey, 'remove']);
  }
  const peerArgs = ['set', w.name, 'peer', w.peer.publicKey, 'allowed-ips', w.peer.allowedIps.join(',') || ''];
  if (w.peer.endpoint) peerArgs.push('endpoint', w.peer.endpoint);
  peerArgs.push('persistent-keepalive', w.peer.persistentKeepalive ? String(w.peer.persistentKeepalive) : 'off');
  await ctx.exec.run('wg', peerArgs);
  await ctx.exec.run('ip', ['link', 'set', 'dev', w.name, 'mtu', String(w.mtu), 'up']);
  await setMss(ctx, w.name, wantedMss(w));
}

export const wireguardProvider: Provider<ActualWireguard> = {
  id: 'wireguard',
  wants: (desired) => desired.roles.includes('gateway'),
  async read(ctx, desired) {
    const names = new Set(desired.wireguard.map((w) => w.name));
    for (const name of ctx.inventory ?? []) names.add(name);
    const [interfaces, mss] = await Promise.all([readInterfaces(ctx, names), names.size ? readMss(ctx) : Promise.resolve(new Map<string, 'pmtu' | number>())]);
    for (const [name, iface] of interfaces) {
      const m = mss.get(name);
      if (m !== undefined) iface.mss = m;
    }
    const desiredPublicKeys = new Map<string, string>();
    const secretErrors = new Map<string, string>();
    // Many interfaces share one key file: read and derive each key once.
    const byRef = new Map<string, Promise<string>>();
    for (const w of desired.wireguard) {
      try {
        let pub = byRef.get(w.privateKey);
        if (!pub) {
          pub = ctx.secrets.resolve(w.privateKey).then(publicKeyOf);
          byRef.set(w.privateKey, pub);
        }
        desiredPublicKeys.set(w.name, await pub);
      } catch (err) {
        secretErrors.set(w.name, err instanceof MirrornetError ? err.userMessage : 'the private key is not a valid WireGuard key');
      }
    }
    return { interfaces, desiredPublicKeys, secretErrors };
  },
  diff: diffWireguard,
  async apply(ctx, changes, _desired, actual): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: [], deleted: [] };
    for (const c of changes) {
      if (c.action === 'noop') continue;
      if (c.action === 'delete') {
        const { name } = c.data as { name: string };
        await setMss(ctx, name, undefined);
        await ctx.exec.run('ip', ['link', 'del', 'dev', name], { allowFail: true });
        outcome.deleted.push(c.id);
      } else {
        const w = c.data as DesiredWireguard;
        let have = actual.interfaces.get(w.name);
        if (!have) {
          await createLink(ctx, w.name);
          have = undefined;
        }
        await configure(ctx, w, have);
      }
      ctx.log.info({ action: c.action, id: c.id }, 'change applied');
      outcome.applied.push(c);
    }
    return outcome;
  },
};
