// WireGuard: one interface per link (names unique on the machine), private key from its secret reference,
// listen port, one peer with the CIDRs routed over the link, MTU from the link, MSS clamping. Uses the
// kernel when it can, else wireguard-go (userspace).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Desired, DesiredWireguard } from '../../desired/types.js';
import type { ApplyOutcome, Change, Provider, ProviderContext } from '../types.js';
import { IpLinks, parseWgDump, type WgDump } from './schema.js';

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

export function describeInterface(w: DesiredWireguard, publicKey?: string): Record<string, unknown> {
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

export function diffWireguard(desired: Desired, actual: ActualWireguard, owned: ReadonlySet<string>): Change[] {
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
      changes.push({ provider: 'wireguard', id: w.name, action: 'create', reason: `tunnel to ${w.remoteSite} (${w.linkId}) does not exist`, after, data: w });
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
      if (peer.allowedIps.join(',') !== [...w.peer.allowedIps].sort().join(',')) reasons.push(`allowed IPs are ${peer.allowedIps.join(',') || 'empty'}, want ${w.peer.allowedIps.join(',')}`);
      if (w.peer.endpoint && peer.endpoint !== w.peer.endpoint) reasons.push(`endpoint is ${peer.endpoint ?? 'unset'}, want ${w.peer.endpoint}`);
      if ((peer.persistentKeepalive ?? 0) !== (w.peer.persistentKeepalive ?? 0)) reasons.push(`keepalive is ${peer.persistentKeepalive ?? 'off'}, want ${w.peer.persistentKeepalive ?? 'off'}`);
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
        before: { interface: w.name, listenPort: have.wg.listenPort, mtu: have.mtu, publicKey: have.wg.publicKey, peers: peers.map((p) => ({ publicKey: p.publicKey, endpoint: p.endpoint, allowedIps: p.allowedIps })), mss: have.mss },
        after,
        data: w,
      });
    } else {
      changes.push({ provider: 'wireguard', id: w.name, action: 'noop', reason: 'in sync', after });
    }
  }
  for (const name of owned) {
    if (wanted.has(name)) continue;
    if (actual.interfaces.has(name)) {
      changes.push({ provider: 'wireguard', id: name, action: 'delete', reason: `the link of ${name} is no longer in the repository`, before: { interface: name }, data: { name } });
    }
  }
  return changes;
}

async function readInterface(ctx: ProviderContext, name: string): Promise<ActualInterface | undefined> {
  const link = await ctx.exec.run('ip', ['-j', 'link', 'show', 'dev', name], { allowFail: true });
  if (link.code !== 0) return undefined;
  const parsed = IpLinks.safeParse(JSON.parse(link.stdout || '[]'));
  const info = parsed.success ? parsed.data[0] : undefined;
  if (!info) return undefined;
  const iface: ActualInterface = { name, up: Boolean(info.flags?.includes('UP')), ...(info.mtu !== undefined ? { mtu: info.mtu } : {}) };
  const dump = await ctx.exec.run('wg', ['show', name, 'dump'], { allowFail: true });
  if (dump.code === 0) iface.wg = parseWgDump(dump.stdout);
  return iface;
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

export async function publicKeyOf(ctx: ProviderContext, privateKey: string): Promise<string> {
  const res = await ctx.exec.run('wg', ['pubkey'], { input: `${privateKey}\n`, hostNamespace: true });
  return res.stdout.trim();
}

function mssArgs(name: string, mss: 'pmtu' | number): string[] {
  return ['FORWARD', '-o', name, '-p', 'tcp', '--tcp-flags', 'SYN,RST', 'SYN', '-m', 'comment', '--comment', MSS_COMMENT(name), '-j', 'TCPMSS', ...(mss === 'pmtu' ? ['--clamp-mss-to-pmtu'] : ['--set-mss', String(mss)])];
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
    const args = line.replace(/^-A /, '').split(/\s+/).map((a) => a.replace(/^"|"$/g, ''));
    await ctx.exec.run('iptables', ['-w', '-t', 'mangle', '-D', ...args], { allowFail: true });
  }
  if (wanted !== undefined) await ctx.exec.run('iptables', ['-w', '-t', 'mangle', '-A', ...mssArgs(name, wanted)]);
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
    const interfaces = new Map<string, ActualInterface>();
    const mss = await readMss(ctx);
    const names = new Set(desired.wireguard.map((w) => w.name));
    for (const name of ctx.inventory ?? []) names.add(name);
    for (const name of names) {
      const iface = await readInterface(ctx, name);
      if (iface) {
        const m = mss.get(name);
        if (m !== undefined) iface.mss = m;
        interfaces.set(name, iface);
      }
    }
    const desiredPublicKeys = new Map<string, string>();
    const secretErrors = new Map<string, string>();
    for (const w of desired.wireguard) {
      try {
        desiredPublicKeys.set(w.name, await publicKeyOf(ctx, await ctx.secrets.resolve(w.privateKey)));
      } catch (err) {
        secretErrors.set(w.name, (err as { userMessage?: string }).userMessage ?? 'the private key cannot be read');
      }
    }
    return { interfaces, desiredPublicKeys, secretErrors };
  },
  diff: diffWireguard,
  async apply(ctx, changes, _desired, actual): Promise<ApplyOutcome> {
    const outcome: ApplyOutcome = { applied: [], created: [], deleted: [] };
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
        outcome.created.push(c.id);
      }
      ctx.log.info({ action: c.action, id: c.id }, 'change applied');
      outcome.applied.push(c);
    }
    return outcome;
  },
};
