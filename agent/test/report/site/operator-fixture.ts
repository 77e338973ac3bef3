// What the operator tests share: two fresh SSH keys (alice, in the core's operators file; mallory, not), a
// core's view of a few sites at a fixed time, and a tiny HTTP server in front of operatorHandler (the real
// route wiring is the agent server's).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localExec } from '../../../src/host/exec.js';
import { FleetView, operatorHandler } from '../../../src/report/site/fleet.js';
import { OPERATOR_NONCE_WINDOW_MS } from '../../../src/report/site/operator-auth.js';
import type { HostState, SiteReport, Steering } from '../../../src/report/site/schema.js';
import { SteeringStore } from '../../../src/report/site/steering.js';
import { RecentDeliveries } from '../../../src/server/guards.js';

/** The fixed clock every operator test runs at. */
export const NOW = Date.parse('2025-03-01T12:00:00.000Z');
export const REV_A = '3f9c2a1b7d4e5f60718293a4b5c6d7e8f9012345';
export const REV_B = '0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c';

export interface OperatorKeys {
  dir: string;
  /** alice@example.org, listed in `allowed`. */
  alice: string;
  /** Not listed anywhere. */
  mallory: string;
  allowed: string;
}

export function operatorKeys(): OperatorKeys {
  const dir = mkdtempSync(join(tmpdir(), 'mn-operator-'));
  for (const name of ['alice', 'mallory']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  const allowed = join(dir, 'operators');
  writeFileSync(allowed, `alice@example.org namespaces="mirrornet-operator" ${readFileSync(join(dir, 'alice.pub'), 'utf8')}`);
  return { dir, alice: join(dir, 'alice'), mallory: join(dir, 'mallory'), allowed };
}

const iso = (msBeforeNow: number) => new Date(NOW - msBeforeNow).toISOString();

export function host(site: string, name: string, over: Partial<HostState> = {}): HostState {
  return {
    site,
    host: name,
    roles: ['node'],
    agentVersion: '0.2.0',
    wanted: REV_A,
    applied: REV_A,
    drift: {},
    steering: 0,
    suspended: false,
    at: iso(20_000),
    lastSeen: iso(20_000),
    stale: false,
    ...over,
  };
}

export function siteReport(site: string, hosts: HostState[], over: Partial<SiteReport> = {}): SiteReport {
  const applied = hosts.filter((h) => h.applied === REV_A).length;
  return {
    site,
    gateway: hosts[0]?.host ?? 'gw',
    hosts,
    summary: { hosts: hosts.length, revision: REV_A, applied, failing: [], drifting: {}, stale: [], suspended: false, state: 'in-sync' },
    events: [],
    steering: { generation: 0 },
    at: iso(15_000),
    ...over,
  };
}

export interface Core {
  url: string;
  fleet: FleetView;
  steering: SteeringStore;
  stateDir: string;
  pushes: { site: string; steering: Steering }[];
  close(): Promise<void>;
}

/** A core agent's operator endpoints on 127.0.0.1, over `fleet`, with its steering in a fresh state directory. */
export async function startCore(
  name: string,
  keys: OperatorKeys,
  reports: { report: SiteReport; msBeforeNow: number }[],
  clock: () => number = () => NOW,
): Promise<Core> {
  const fleet = new FleetView(name, 30_000);
  for (const { report, msBeforeNow } of reports) fleet.record(report, NOW - msBeforeNow);
  const stateDir = mkdtempSync(join(tmpdir(), 'mn-core-'));
  const steering = await SteeringStore.open(stateDir);
  const pushes: Core['pushes'] = [];
  const handler = operatorHandler({
    fleet,
    steering,
    allowedSigners: keys.allowed,
    exec: localExec(),
    clock,
    nonces: new RecentDeliveries(OPERATOR_NONCE_WINDOW_MS, clock),
    push: (site, s) => void pushes.push({ site, steering: s }),
  });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handler.handle({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) }).then((reply) => {
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    fleet,
    steering,
    stateDir,
    pushes,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
