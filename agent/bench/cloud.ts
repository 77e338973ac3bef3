// API calls of a no-op reconcile against the cloud emulators: a 200-route Huawei Cloud route table (target:
// at most 2 calls, 0 writes) and a Harbor core (target: at most one list call per object kind), printed next
// to what a per-object refresh (one GET per route or object, as Terraform does) would make.
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Desired, DesiredCloudRoute } from '../src/desired/types.js';
import { compile } from '../src/desired/compile.js';
import { startHarborEmulator } from '../src/testbed/emulators/harbor/index.js';
import { startHuaweiVpcEmulator } from '../src/testbed/emulators/huaweicloud-vpc/index.js';
import { HostFiles } from '../src/host/files.js';
import { localExec } from '../src/host/exec.js';
import type { SecretResolver } from '../src/host/secrets.js';
import { silentLogger } from '../src/log.js';
import { validateRepo } from '../src/policy/validate.js';
import { createHarborApiProvider, harborClientFactory } from '../src/providers/harbor-api/index.js';
import { createVpcClient } from '../src/providers/huaweicloud-vpc/client.js';
import { createHuaweiVpcProvider } from '../src/providers/huaweicloud-vpc/index.js';
import { DEFAULT_COMMANDS, type Provider } from '../src/providers/types.js';
import { applyHost, pendingChanges, planHost, type HostDeps } from '../src/reconcile/engine.js';
import { StateStore, EMPTY_STATE } from '../src/reconcile/state.js';
import { table, type Row } from './report.js';

const PROJECT = '0a7c3b1e9f2d4c6b8e5a1d3f7b9c2e4a';
const TABLE = 'rtb-bench-0001';
const AK = 'BENCHAK0000000000000';
const SK = 'bench-secret-key-0000000000000000000000';

function deps(providers: Provider<unknown>[], secrets: SecretResolver, root: string): HostDeps {
  return { providers, exec: localExec(), files: new HostFiles(root), secrets, log: silentLogger(), commands: DEFAULT_COMMANDS };
}

async function cloudRouteTable(): Promise<{ calls: number; writes: number; routes: number }> {
  const marker = 'mirrornet:bench-site';
  const routes: DesiredCloudRoute[] = [];
  for (let i = 0; i < 200; i++) {
    routes.push({ destination: `10.${128 + Math.floor(i / 250)}.${i % 250}.0/24`, type: 'cc', nexthop: 'cc-bench', description: `${marker} bench` });
  }
  const emu = await startHuaweiVpcEmulator({
    credentials: [{ ak: AK, sk: SK }],
    projects: {
      [PROJECT]: { routetables: [{ id: TABLE, vpc_id: 'vpc-bench', routes: [{ type: 'local', destination: '10.120.0.0/16', nexthop: '' }, ...routes] }] },
    },
  });
  try {
    const desired: Desired = {
      site: 'bench-site',
      roles: ['gateway'],
      routes: [],
      wireguard: [],
      cloud: { provider: 'huaweicloud', region: 'cn-north-4', projectId: PROJECT, marker, tables: [{ id: TABLE, routes }] },
    };
    const client = createVpcClient({ endpoint: emu.url, ak: AK, sk: SK, projectId: PROJECT });
    const provider = createHuaweiVpcProvider(client) as Provider<unknown>;
    const secrets: SecretResolver = { resolve: async () => '' };
    const root = mkdtempSync(join(tmpdir(), 'mirrornet-bench-cloud-'));
    try {
      emu.log.clear();
      const plan = await planHost(desired, 'bench', deps([provider], secrets, root), structuredClone(EMPTY_STATE));
      if (pendingChanges(plan).length) throw new Error(`the 200-route table should be in sync: ${JSON.stringify(pendingChanges(plan))}`);
      const entries = emu.log.entries();
      return { calls: entries.length, writes: entries.filter((e) => e.method !== 'GET').length, routes: routes.length };
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  } finally {
    await emu.close();
  }
}

async function harborCore(): Promise<{ byKind: Record<string, number>; calls: number; objects: number }> {
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  const report = validateRepo(repo);
  const desired = compile(report.fleet, 'ap-singapore', ['hub']);
  const env: Record<string, string> = {
    HARBOR_ADMIN_PASSWORD: 'Harbor12345',
    HARBOR_ROBOT_REPLICATION: 'Replicate12345',
  };
  const secrets: SecretResolver = {
    resolve: async (ref) => {
      const v = env[ref.replace(/^env:/, '')];
      if (v === undefined) throw new Error(`no value for ${ref}`);
      return v;
    },
  };
  const emu = await startHarborEmulator({ admin: { username: 'admin', password: 'Harbor12345' }, remoteCheck: async () => true });
  const root = mkdtempSync(join(tmpdir(), 'mirrornet-bench-harbor-'));
  try {
    const provider = createHarborApiProvider(harborClientFactory({ secrets, url: emu.url }), secrets) as Provider<unknown>;
    const d = deps([provider], secrets, root);
    const store = new StateStore(join(root, 'state'));
    const state = structuredClone(EMPTY_STATE);
    const first = await planHost(desired, 'bench', d, state);
    const applied = await applyHost(first, desired, d, store, state);
    if (applied.error) throw applied.error.error;
    emu.clearLog();
    const again = await planHost(desired, 'bench', d, state);
    if (pendingChanges(again).length) throw new Error(`the Harbor core should be in sync: ${JSON.stringify(pendingChanges(again).map((c) => c.id))}`);
    const byKind: Record<string, number> = {};
    for (const e of emu.log) {
      const kind = e.path
        .replace(/^\/api\/v2\.0\//, '')
        .split('/')
        .slice(0, e.path.includes('/replication/') ? 2 : 1)
        .join('/');
      byKind[kind] = (byKind[kind] ?? 0) + 1;
    }
    return { byKind, calls: emu.log.length, objects: first.changes.length };
  } finally {
    await emu.close();
    rmSync(root, { recursive: true, force: true });
  }
}

export async function runCloudBench(): Promise<number> {
  process.stdout.write('\ncloud bench: API calls of a no-op reconcile against the emulators\n');
  const cloud = await cloudRouteTable();
  const harbor = await harborCore();
  const kinds = Object.keys(harbor.byKind).length;
  const rows: Row[] = [
    {
      what: 'Huawei route table, 200 routes: API calls',
      value: String(cloud.calls),
      target: `<= 2 (per-route refresh: ${cloud.routes + 1})`,
      verdict: cloud.calls <= 2 ? 'PASS' : 'MISS',
    },
    { what: 'Huawei route table, 200 routes: writes', value: String(cloud.writes), target: '0', verdict: cloud.writes === 0 ? 'PASS' : 'MISS' },
    {
      what: `Harbor core (${harbor.objects} objects): API calls`,
      value: `${harbor.calls} (${Object.entries(harbor.byKind)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')})`,
      target: `<= 1 list per kind (per-object refresh: ${harbor.objects + kinds})`,
      verdict: Object.values(harbor.byKind).every((n) => n <= 1) ? 'PASS' : 'MISS',
    },
  ];
  table((line) => process.stdout.write(`${line}\n`), rows);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await runCloudBench();
