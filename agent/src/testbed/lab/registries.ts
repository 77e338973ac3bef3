// The registries the lab runs: each core's (the storage of its Harbor, on the core's LAN address, with a
// JSON access log the run counts served bytes from) and each region's peer on dfdaemon's proxy address
// (the lab's dfproxy peer, or distribution's pull-through cache).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registryLog } from './layout.js';
import { httpCodeInNs } from './network.js';
import { PEER_SCRIPT } from './peer.js';
import type { LabProcess, LabState } from './processes.js';
import { start, waitUntil } from './startup.js';
import { siteOf, type LabSite } from './topology.js';

function registryConfig(opts: { root: string; addr: string; remote?: string }): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: json',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${opts.root}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${opts.addr}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...(opts.remote ? ['proxy:', `  remoteurl: ${opts.remote}`] : []),
    '',
  ].join('\n');
}

/** The cores' registries (their Harbors' storage), on each core's LAN address; waits until each answers. */
export async function startCoreRegistries(state: LabState, cores: readonly LabSite[]): Promise<void> {
  const dir = state.dir;
  const registries: LabProcess[] = [];
  for (const c of cores) {
    const rdir = join(dir, 'sites', c.name, 'registry');
    mkdirSync(join(rdir, 'data'), { recursive: true });
    writeFileSync(join(rdir, 'config.yml'), registryConfig({ root: join(rdir, 'data'), addr: `${c.registry!.host}:${c.registry!.port}` }));
    registries.push(
      start(state, {
        name: `registry ${c.name}`,
        kind: 'registry',
        cmd: 'docker-registry',
        args: ['serve', join(rdir, 'config.yml')],
        ns: c.ns,
        log: registryLog(dir, c.name),
      }),
    );
  }
  for (const [i, c] of cores.entries())
    await waitUntil(`the registry of ${c.name}`, 20_000, () => httpCodeInNs(c.ns, `${c.registry!.url}/v2/`) === '200', [registries[i]!]);
}

/** Start a region's peer on dfdaemon's proxy address; undefined when the region mirrors no lab Harbor. */
export function startRegionPeer(state: LabState, s: LabSite, kind: 'dfproxy' | 'registry'): Promise<void> | undefined {
  const core = s.registrySite ? siteOf(state.topology!, s.registrySite) : undefined;
  if (!core) return undefined;
  const pdir = join(state.dir, 'sites', s.name, 'peer');
  mkdirSync(pdir, { recursive: true });
  const listen = `127.0.0.1:${s.proxyPort ?? 4001}`;
  let p: LabProcess;
  if (kind === 'registry') {
    writeFileSync(join(pdir, 'config.yml'), registryConfig({ root: join(pdir, 'data'), addr: listen, remote: core.registry!.url }));
    p = start(state, {
      name: `peer ${s.name}`,
      kind: 'peer',
      cmd: 'docker-registry',
      args: ['serve', join(pdir, 'config.yml')],
      ns: s.ns,
      log: join(state.dir, 'logs', `peer-${s.name}.log`),
    });
  } else {
    p = start(state, {
      name: `peer ${s.name}`,
      kind: 'peer',
      cmd: process.execPath,
      args: [PEER_SCRIPT, '--listen', listen, '--cache', join(pdir, 'cache'), '--registry-mirror', core.registry!.url],
      ns: s.ns,
      log: join(state.dir, 'logs', `peer-${s.name}.log`),
    });
  }
  return waitUntil(`the peer of ${s.name}`, 20_000, () => httpCodeInNs(s.ns, `http://${listen}/v2/`) === '200', [p]);
}
