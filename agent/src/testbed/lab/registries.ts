// The registries the lab runs: each core's (the storage of its Harbor, on the core's LAN address, with a
// JSON access log the run counts served bytes from) and each region's peer in dfdaemon's place, set up from
// the dfdaemon.yaml the region's node agents wrote (the lab's dfproxy peer, or distribution's pull-through cache).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DFDAEMON_CONFIG } from '../../model/constraints/dragonfly.js';
import { DfdaemonConfigError, parseDfdaemonConfig, type DfdaemonSettings } from './dfdaemon-config.js';
import { nodeRoot, registryLog } from './layout.js';
import { REGISTRY_EVENTS_TOKEN_ENV, registryEventsUrl } from './delivery.js';
import { httpCodeInNs } from './network.js';
import { PEER_SCRIPT } from './peer.js';
import { LabError, type LabProcess, type LabState } from './processes.js';
import { start, waitUntil } from './startup.js';
import { siteOf, type LabSite } from './topology.js';

/** Distribution's notifications: each manifest push, to the lab's services (Harbor's core in a real Harbor). */
function notificationLines(notify: { url: string; token: string }): string[] {
  return [
    'notifications:',
    '  endpoints:',
    '    - name: lab-harbor-core',
    `      url: ${notify.url}`,
    '      headers:',
    `        Authorization: [Bearer ${notify.token}]`,
    '      timeout: 2s',
    '      threshold: 3',
    '      backoff: 1s',
    '      ignore:',
    '        mediatypes: [application/octet-stream]',
    '        actions: [pull]',
  ];
}

function registryConfig(opts: { root: string; addr: string; remote?: string; notify?: { url: string; token: string } }): string {
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
    ...(opts.notify ? notificationLines(opts.notify) : []),
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
    const events = state.services?.eventsPort;
    const notify = events ? { url: registryEventsUrl(events, c.name), token: state.secrets[REGISTRY_EVENTS_TOKEN_ENV]! } : undefined;
    writeFileSync(
      join(rdir, 'config.yml'),
      registryConfig({ root: join(rdir, 'data'), addr: `${c.registry!.host}:${c.registry!.port}`, ...(notify ? { notify } : {}) }),
      { mode: 0o600 },
    );
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

/**
 * Start a region's peer in dfdaemon's place, configured only from the dfdaemon.yaml its node agents wrote (read
 * with the Rust client's rules: a file dfdaemon would refuse stops the lab here, with its line). The region's
 * nodes share one peer, so their files must be the same. Undefined when the region mirrors no lab Harbor or has
 * no node (nothing writes a dfdaemon.yaml, nothing pulls).
 */
export function startRegionPeer(state: LabState, s: LabSite, kind: 'dfproxy' | 'registry'): Promise<void> | undefined {
  const core = s.registrySite ? siteOf(state.topology!, s.registrySite) : undefined;
  const first = s.nodes[0];
  if (!core || !first) return undefined;
  const root = nodeRoot(state.dir, s.name, first.name);
  const config = join(root, DFDAEMON_CONFIG);
  if (!existsSync(config)) throw new LabError(`The node agent of ${first.name} did not write ${config}: the region's peer has no configuration.`);
  const content = readFileSync(config, 'utf8');
  for (const n of s.nodes.slice(1)) {
    const other = join(nodeRoot(state.dir, s.name, n.name), DFDAEMON_CONFIG);
    if (!existsSync(other) || readFileSync(other, 'utf8') !== content)
      throw new LabError(`${other} differs from ${config}: the nodes of ${s.name} share one peer in the lab, so their dfdaemon.yaml must be the same.`);
  }
  let c: DfdaemonSettings;
  try {
    c = parseDfdaemonConfig(content, config);
  } catch (err) {
    if (err instanceof DfdaemonConfigError) throw new LabError(`The peer of ${s.name} cannot start: ${err.userMessage}`, { cause: err });
    throw err;
  }
  const pdir = join(state.dir, 'sites', s.name, 'peer');
  mkdirSync(pdir, { recursive: true });
  let p: LabProcess;
  if (kind === 'registry') {
    writeFileSync(join(pdir, 'config.yml'), registryConfig({ root: join(pdir, 'data'), addr: `0.0.0.0:${c.proxyPort}`, remote: c.registryMirror }));
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
      args: [PEER_SCRIPT, '--config', config, '--root', root],
      ns: s.ns,
      log: join(state.dir, 'logs', `peer-${s.name}.log`),
    });
  }
  return waitUntil(`the peer of ${s.name}`, 20_000, () => httpCodeInNs(s.ns, `http://127.0.0.1:${c.proxyPort}/v2/`) === '200', [p]);
}
