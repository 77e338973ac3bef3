// The harbor-api provider against two Harbor emulators standing in for the two cores (Beijing pushes to
// Singapore), driven by the fixture fleet under agent/test/fixtures/harbor, each core planned and applied
// as its agent does (the reconcile engine, the destination core first): plan -> apply -> an empty second
// plan; a no-op read is one list call per object kind; drift is reported and healed; objects without the
// marker are left alone; 500s and resets converge without duplicates; no secret reaches a plan, a note, a
// log or an error. Only 127.0.0.1.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DestinationStream, Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { desiredHarbor } from '../../src/desired/harbor.js';
import type { Desired } from '../../src/desired/types.js';
import { defaultRemoteCheck, startHarborEmulator, type HarborEmulator } from '../../src/testbed/emulators/harbor/index.js';
import { HarborOpenApi } from '../../src/testbed/emulators/harbor/openapi.js';
import { HARBOR_API_CONSTRAINTS } from '../../src/model/constraints/harbor-api.js';
import { requestKeys } from '../support/inventory-keys.js';
import type { Exec } from '../../src/host/exec.js';
import type { HostFiles } from '../../src/host/files.js';
import { MASK, hostSecrets } from '../../src/host/secrets.js';
import { createLogger } from '../../src/log.js';
import { HarborInstance } from '../../src/model/schema.js';
import { HarborApiClient } from '../../src/providers/harbor-api/client.js';
import { HarborApiError } from '../../src/providers/harbor-api/errors.js';
import { HarborPreflightError } from '../../src/providers/harbor-api/preflight.js';
import { nextLink } from '../../src/providers/harbor-api/http.js';
import { createHarborApiProvider } from '../../src/providers/harbor-api/index.js';
import { harborChangeRank, orderHarborChanges, type ActualHarbor } from '../../src/providers/harbor-api/changes.js';
import { MARKER, markerFingerprint, ownedByMirrornet } from '../../src/providers/harbor-api/marker.js';
import { DEFAULT_COMMANDS, type Change, type Provider } from '../../src/providers/types.js';
import { applyHost, pendingChanges, planHost, type HostDeps, type HostPlan } from '../../src/reconcile/engine.js';
import { EMPTY_STATE, type AgentState, type StateStore } from '../../src/reconcile/state.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const FIXTURE = join(repoRoot, 'agent/test/fixtures/harbor');
const BJ = 'harbor-cn-beijing';
/** Harbor's API description: every request the provider sends must be one it allows. */
const OPENAPI = HarborOpenApi.fromFile(join(FIXTURE, 'harbor-api-v2.15.2.swagger.yaml'));
/** The inventory keys of every request the provider sent (the test's own requests to the emulators are marked and left out). */
const SENT = new Set<string>();
const TEST_REQUEST = 'x-mirrornet-test';
const requestCheck = (req: Parameters<HarborOpenApi['check']>[0]) => {
  const template = OPENAPI.template(req.method, req.path);
  if (template && req.headers[TEST_REQUEST] === undefined) {
    const headers = req.headers['x-is-resource-name'] !== undefined ? ['X-Is-Resource-Name'] : [];
    for (const k of requestKeys({ method: req.method, template, query: req.query, headers, body: req.body })) SENT.add(k);
  }
  return OPENAPI.check(req);
};
/** Every request the description refused, over all emulators of this file (checked at the end). */
const VIOLATIONS: string[] = [];
const SG = 'harbor-ap-singapore';

function loadInstance(name: string): HarborInstance {
  return HarborInstance.parse(parseYaml(readFileSync(join(FIXTURE, `${name}.yaml`), 'utf8')));
}

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

/** Every secret value of this test: none may show up in plans, notes, logs or errors. */
const SECRETS = new Set<string>();
const secret = (s: string) => (SECRETS.add(s), s);
const BJ_ADMIN = secret('Bj-Admin-Pw-1');
const SG_ADMIN = secret('Sg-Admin-Pw-2');
const CI_PUSH = secret('CiPush-Secret-9x');
const REPL = secret('Repl-Secret-7x');
const REPL2 = secret('Repl-Secret-8y');
const OPS = secret('Ops-Secret-5z');
const OPS_HAND = secret('Ops-ByHand-3q');
for (const [u, p] of [
  ['admin', BJ_ADMIN],
  ['admin', SG_ADMIN],
])
  SECRETS.add(Buffer.from(`${u}:${p}`).toString('base64'));

/** Everything the provider said or logged, to search for secrets at the end. */
const OUTPUT: string[] = [];

function captureLogger(): Logger {
  const stream = { write: (s: string) => void OUTPUT.push(s) } as unknown as DestinationStream;
  return createLogger({ level: 'debug', destination: stream });
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Harbor's registry check, but never off this machine (Docker Hub counts as up). */
const localCheck = async (url: string, reg: Parameters<typeof defaultRemoteCheck>[1]) =>
  url.startsWith('http://127.0.0.1') ? defaultRemoteCheck(url, reg) : true;

interface Core {
  name: string;
  emulator?: HarborEmulator;
  env: Record<string, string>;
  instance: HarborInstance;
  /** The agent state of this core's host (its inventory), kept in memory. */
  state: AgentState;
  /** What the reconcile engine runs this core's agent with: the pair's provider, this core's secrets and log. */
  deps: HostDeps;
  client: HarborApiClient;
}

interface Pair {
  bj: Core;
  sg: Core;
  provider: Provider<ActualHarbor>;
  peerUrls: Map<string, string>;
  close(): Promise<void>;
}

function makeCore(name: string, env: Record<string, string>, url: string, log: Logger, retries?: number): Core {
  return {
    name,
    env,
    instance: loadInstance(name),
    state: structuredClone(EMPTY_STATE),
    deps: {
      // The pair's provider, set once both cores exist.
      providers: [],
      exec: {} as Exec,
      files: {} as HostFiles,
      secrets: hostSecrets({ env }),
      log: log.child({ core: name }),
      commands: DEFAULT_COMMANDS,
    },
    client: new HarborApiClient({
      url,
      username: 'admin',
      password: () => hostSecrets({ env }).resolve('env:HARBOR_ADMIN_PASSWORD'),
      sleep: async () => undefined,
      log,
      ...(retries !== undefined ? { retries } : {}),
    }),
  };
}

async function startPair(opts: { startSg?: boolean; sgPort?: number; retries?: number } = {}): Promise<Pair> {
  const log = captureLogger();
  const sgPort = opts.sgPort ?? 0;
  const sgEmu =
    opts.startSg === false
      ? undefined
      : await startHarborEmulator({
          listen: { host: '127.0.0.1', port: sgPort },
          admin: { username: 'admin', password: SG_ADMIN },
          remoteCheck: localCheck,
          requestCheck,
        });
  const sgUrl = sgEmu?.url ?? `http://127.0.0.1:${sgPort}`;
  const bjEmu = await startHarborEmulator({ admin: { username: 'admin', password: BJ_ADMIN }, remoteCheck: localCheck, requestCheck });
  const bj = makeCore(
    BJ,
    { HARBOR_ADMIN_PASSWORD: BJ_ADMIN, HARBOR_ROBOT_CI_PUSH: CI_PUSH, HARBOR_ROBOT_REPLICATION: REPL, HARBOR_ROBOT_OPS: OPS },
    bjEmu.url,
    log,
    opts.retries,
  );
  bj.emulator = bjEmu;
  const sg = makeCore(SG, { HARBOR_ADMIN_PASSWORD: SG_ADMIN, HARBOR_ROBOT_REPLICATION: REPL }, sgUrl, log, opts.retries);
  if (sgEmu) sg.emulator = sgEmu;
  const peerUrls = new Map([
    [SG, sgUrl],
    [BJ, bjEmu.url],
  ]);
  const clients = new Map([
    [BJ, bj.client],
    [SG, sg.client],
  ]);
  const provider = createHarborApiProvider((i) => clients.get(i.name)!, undefined, { peerUrl: (p) => peerUrls.get(p) });
  for (const core of [bj, sg]) core.deps.providers = [provider as Provider<unknown>];
  return {
    bj,
    sg,
    provider,
    peerUrls,
    async close() {
      for (const core of [bj, sg]) {
        OUTPUT.push(JSON.stringify(core.emulator?.log ?? []));
        for (const v of core.emulator?.violations ?? []) VIOLATIONS.push(...v.problems);
        await core.emulator?.close();
      }
    },
  };
}

function desiredOf(core: Core, peers: HarborInstance[]): Desired {
  return { site: core.instance.hub, roles: ['hub'], routes: [], wireguard: [], harbor: desiredHarbor(core.instance, peers) };
}

/** A core's plan from the reconcile engine, with what applying it needs. */
interface CorePlan extends HostPlan {
  core: Core;
  desired: Desired;
}

/** The state store of a core: the inventory stays in memory (core.state). */
const memoryStore = { save: async () => undefined } as unknown as StateStore;

/** Plan each core as its agent does (planHost), the destination (Singapore) first. */
async function plan(pair: Pair, which: Core[] = [pair.sg, pair.bj]): Promise<CorePlan[]> {
  const plans: CorePlan[] = [];
  for (const core of which) {
    const desired = desiredOf(core, core.name === BJ ? [pair.sg.instance] : []);
    const hostPlan = await planHost(desired, 'rev', core.deps, core.state);
    OUTPUT.push(JSON.stringify(hostPlan.changes), JSON.stringify(hostPlan.notes));
    plans.push({ ...hostPlan, core, desired });
  }
  return plans;
}

/**
 * Apply each core's plan as its agent does (applyHost: the inventory written ahead, deletions removed
 * after), in the order planned - the destination before the source - stopping at the first error.
 */
async function apply(plans: CorePlan[]): Promise<{ error?: { core: string; error: Error } }> {
  for (const p of plans) {
    const result = await applyHost(p, p.desired, p.core.deps, memoryStore, p.core.state);
    if (result.error) {
      OUTPUT.push(String(result.error.error.message), String((result.error.error as HarborApiError).userMessage ?? ''));
      return { error: { core: p.core.name, error: result.error.error } };
    }
  }
  return {};
}

const inventoryOf = (core: Core) => core.state.inventory['harbor-api'] ?? [];
const pending = (plans: HostPlan[]) => plans.flatMap((p) => pendingChanges(p));
const summary = (changes: Change[]) => changes.map((c) => `${c.action} ${c.id}`).sort();

async function admin(core: Core, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${core.emulator!.url}/api/v2.0${path}`, {
    method,
    headers: {
      authorization: basic('admin', core.env['HARBOR_ADMIN_PASSWORD']!),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      [TEST_REQUEST]: 'drift',
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads whatever Harbor answered
  return { status: res.status, json: text ? (JSON.parse(text) as any) : undefined, headers: res.headers };
}

async function robotCanRead(core: Core, name: string, pw: string): Promise<boolean> {
  const res = await fetch(`${core.emulator!.url}/api/v2.0/projects`, { headers: { authorization: basic(name, pw) } });
  await res.text();
  return res.status === 200;
}

async function converge(pair: Pair, which?: Core[]): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const plans = await plan(pair, which);
    if (!pending(plans).length) return;
    const r = await apply(plans);
    if (r.error) throw r.error.error;
  }
  assert.fail('did not converge in 3 runs');
}

describe('harbor-api provider: two emulated cores', () => {
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => pair.close());

  it('derives the objects of each core from the fixture fleet', () => {
    const bj = desiredHarbor(pair.bj.instance, [pair.sg.instance]).objects;
    const endpoint = bj.registries.find((r) => r.name === `mirrornet-${SG}`);
    assert.deepEqual(endpoint && { type: endpoint.type, url: endpoint.url, accessKey: endpoint.accessKey, secretRef: endpoint.secretRef }, {
      type: 'harbor',
      url: 'https://harbor.sg.mirrornet.internal',
      accessKey: 'robot$replication-from-beijing',
      secretRef: 'env:HARBOR_ROBOT_REPLICATION',
    });
    assert.deepEqual(
      bj.policies.map((p) => [p.name, p.direction, p.registry, p.trigger, p.speed]),
      [
        ['to-singapore', 'push', `mirrornet-${SG}`, { type: 'event_based' }, 0],
        ['nightly-full-sync', 'push', `mirrornet-${SG}`, { type: 'scheduled', cron: '0 0 3 * * *' }, 512000],
      ],
    );
    const sg = desiredHarbor(pair.sg.instance, []).objects;
    assert.deepEqual(
      sg.projects.find((p) => p.name === 'library'),
      { name: 'library', public: false, storageLimit: 2 * 1024 ** 4 },
    );
    assert.equal(sg.projects.find((p) => p.name === 'dockerhub')?.proxyCache, 'docker-hub');
  });

  it("plans both cores; the destination's robot and projects are ordered before the source's endpoint and policies", async () => {
    const plans = await plan(pair);
    const [sg, bj] = plans;
    assert.deepEqual(summary(pending([sg!])), [
      `create ${SG}/project/base`,
      `create ${SG}/project/dockerhub`,
      `create ${SG}/registry/docker-hub`,
      `create ${SG}/robot/replication-from-beijing`,
      `update ${SG}/project/library`,
      `update ${SG}/quota/library`,
    ]);
    assert.deepEqual(summary(pending([bj!])), [
      `create ${BJ}/policy/nightly-full-sync`,
      `create ${BJ}/policy/to-singapore`,
      `create ${BJ}/project/base`,
      `create ${BJ}/registry/mirrornet-${SG}`,
      `create ${BJ}/robot/ci-push`,
      `update ${BJ}/project/library`,
      `update ${BJ}/quota/library`,
    ]);
    const lib = pending([sg!]).find((c) => c.id === `${SG}/project/library`)!;
    assert.match(lib.reason, /public; the repository wants it private/);
    // Secrets are masked in what a person sees.
    const robot = pending([sg!]).find((c) => c.id.includes('/robot/'))!;
    assert.equal((robot.after as { secret: string }).secret, MASK);
    const endpoint = pending([bj!]).find((c) => c.id.includes('/registry/'))!;
    assert.deepEqual((endpoint.after as { credential: unknown }).credential, { access_key: 'robot$replication-from-beijing', access_secret: MASK });
    // The desired state names Singapore's externalUrl; this host reaches it at the URL it was configured with.
    assert.equal((endpoint.after as { url: string }).url, pair.sg.emulator!.url);

    const ordered = orderHarborChanges([...pending([bj!]), ...pending([sg!])]);
    const pos = (id: string) => ordered.findIndex((c) => c.id === id);
    for (const before of [`${SG}/robot/replication-from-beijing`, `${SG}/project/base`, `${SG}/project/library`]) {
      for (const after of [`${BJ}/registry/mirrornet-${SG}`, `${BJ}/policy/to-singapore`, `${BJ}/policy/nightly-full-sync`])
        assert.ok(pos(before) < pos(after), `${before} before ${after}`);
    }
    assert.ok(pos(`${SG}/registry/docker-hub`) < pos(`${SG}/project/dockerhub`), 'a proxy-cache project after its registry');
    assert.ok(pos(`${BJ}/registry/mirrornet-${SG}`) < pos(`${BJ}/policy/to-singapore`));
    assert.deepEqual(
      [...ordered].map(harborChangeRank),
      [...ordered].map(harborChangeRank).sort((a, b) => a - b),
    );
  });

  it("applies both cores: Harbor holds the repository's objects, secrets pinned and read back masked", async () => {
    const result = await apply(await plan(pair));
    assert.equal(result.error, undefined, String(result.error?.error));
    const sg = pair.sg.emulator!.state;
    const robot = sg.robots.find((r) => r.name === 'replication-from-beijing')!;
    assert.ok(ownedByMirrornet(robot.description));
    assert.match(robot.description, /^Beijing's replication pushes with this robot \[mirrornet [0-9a-f]{16}\]$/);
    assert.ok(await robotCanRead(pair.sg, 'robot$replication-from-beijing', REPL), 'the robot secret is pinned from its secret reference');
    const library = sg.projects.find((p) => p.name === 'library')!;
    assert.equal(library.metadata['public'], 'false');
    assert.equal(sg.quotas.find((q) => q.project_id === library.project_id)!.hard['storage'], 2 * 1024 ** 4);
    const hub = sg.registries.find((r) => r.name === 'docker-hub')!;
    assert.equal(sg.projects.find((p) => p.name === 'dockerhub')!.registry_id, hub.id);
    assert.ok(hub.description.endsWith(MARKER));

    const bj = pair.bj.emulator!;
    const endpoint = bj.state.registries.find((r) => r.name === `mirrornet-${SG}`)!;
    assert.equal(endpoint.url, pair.sg.emulator!.url);
    assert.equal(endpoint.credential?.access_key, 'robot$replication-from-beijing');
    assert.equal(bj.registrySecret(endpoint.id), REPL, "the endpoint authenticates as Singapore's replication robot");
    const listed = await admin(pair.bj, 'GET', '/registries');
    assert.equal(listed.json[0].credential.access_secret, '*****');
    const policies = (await admin(pair.bj, 'GET', '/replication/policies')).json as {
      name: string;
      dest_registry: { id: number };
      src_registry: { id: number };
      deletion: boolean;
      trigger: { type: string; trigger_settings?: { cron: string } };
      speed: number;
      copy_by_chunk: boolean;
      description: string;
    }[];
    const push = policies.find((p) => p.name === 'to-singapore')!;
    assert.equal(push.dest_registry.id, endpoint.id);
    assert.equal(push.src_registry.id, 0);
    assert.equal(push.deletion, false);
    assert.equal(push.copy_by_chunk, true);
    assert.equal(push.trigger.type, 'event_based');
    assert.equal(push.description, `every push in library and base goes overseas ${MARKER}`);
    const nightly = policies.find((p) => p.name === 'nightly-full-sync')!;
    assert.equal(nightly.trigger.trigger_settings?.cron, '0 0 3 * * *');
    assert.equal(nightly.speed, 512000);
    assert.ok(await robotCanRead(pair.bj, 'robot$ci-push', CI_PUSH));
  });

  it('plans nothing the second time, and a no-op read makes one list call per object kind', async () => {
    pair.bj.emulator!.clearLog();
    pair.sg.emulator!.clearLog();
    const plans = await plan(pair);
    assert.deepEqual(summary(pending(plans)), []);
    for (const core of [pair.bj, pair.sg]) {
      const log = core.emulator!.log;
      assert.ok(
        log.every((e) => e.method === 'GET'),
        'a plan never writes',
      );
      const perPath = new Map<string, number>();
      for (const e of log) perPath.set(e.path, (perPath.get(e.path) ?? 0) + 1);
      assert.deepEqual(Object.fromEntries(perPath), {
        '/api/v2.0/projects': 1,
        '/api/v2.0/quotas': 1,
        '/api/v2.0/registries': 1,
        '/api/v2.0/replication/policies': 1,
        '/api/v2.0/robots': 1,
      });
      assert.ok(log.every((e) => /(^|&)page_size=100(&|$)/.test(e.query)));
    }
  });

  it("reports drift behind the agent's back (a project changed, a policy deleted, a quota, a robot, a rotated secret) and heals it", async () => {
    await admin(pair.bj, 'PUT', '/projects/base', { metadata: { public: 'false' } }, { 'X-Is-Resource-Name': 'true' });
    const nightly = pair.bj.emulator!.state.policies.find((p) => p.name === 'nightly-full-sync')!;
    assert.equal((await admin(pair.bj, 'DELETE', `/replication/policies/${nightly.id}`)).status, 200);
    const libId = pair.bj.emulator!.state.projects.find((p) => p.name === 'library')!.project_id;
    const quota = (await admin(pair.bj, 'GET', `/quotas?reference=project&reference_id=${libId}`)).json[0];
    await admin(pair.bj, 'PUT', `/quotas/${quota.id}`, { hard: { storage: 1024 } });
    const sgRobot = pair.sg.emulator!.state.robots.find((r) => r.name === 'replication-from-beijing')!;
    await admin(pair.sg, 'PUT', `/robots/${sgRobot.id}`, {
      name: 'robot$replication-from-beijing',
      level: 'system',
      duration: -1,
      description: sgRobot.description,
      permissions: [{ kind: 'project', namespace: 'library', access: [{ resource: 'repository', action: 'pull' }] }],
    });
    // The replication robot's secret is rotated on both hosts (the same secret reference).
    pair.sg.env['HARBOR_ROBOT_REPLICATION'] = REPL2;
    pair.bj.env['HARBOR_ROBOT_REPLICATION'] = REPL2;

    const plans = await plan(pair);
    const changes = pending(plans);
    assert.deepEqual(summary(changes), [
      `create ${BJ}/policy/nightly-full-sync`,
      `update ${SG}/robot/replication-from-beijing`,
      `update ${BJ}/project/base`,
      `update ${BJ}/quota/library`,
      `update ${BJ}/registry/mirrornet-${SG}`,
    ]);
    const reason = (id: string) => changes.find((c) => c.id === id)!.reason;
    assert.match(reason(`${BJ}/project/base`), /is private; the repository wants it public/);
    assert.match(reason(`${BJ}/quota/library`), /is 1024 bytes/);
    assert.match(reason(`${SG}/robot/replication-from-beijing`), /permissions changed, the secret behind env:HARBOR_ROBOT_REPLICATION changed on this host/);
    assert.match(reason(`${BJ}/registry/mirrornet-${SG}`), /the secret behind env:HARBOR_ROBOT_REPLICATION changed/);

    const result = await apply(plans);
    assert.equal(result.error, undefined, String(result.error?.error));
    assert.deepEqual(summary(pending(await plan(pair))), []);
    assert.ok(await robotCanRead(pair.sg, 'robot$replication-from-beijing', REPL2));
    assert.ok(!(await robotCanRead(pair.sg, 'robot$replication-from-beijing', REPL)));
    const endpoint = pair.bj.emulator!.state.registries.find((r) => r.name === `mirrornet-${SG}`)!;
    assert.equal(pair.bj.emulator!.registrySecret(endpoint.id), REPL2);
    assert.equal(pair.bj.emulator!.state.policies.filter((p) => p.name === 'nightly-full-sync').length, 1);
  });

  it('never changes or deletes objects without the marker; deletes its own once they leave the repository', async () => {
    // Objects made by hand in Beijing's Harbor, one with the name of a robot the repository now declares.
    await admin(pair.bj, 'POST', '/projects', { project_name: 'scratch' });
    await admin(pair.bj, 'POST', '/registries', { name: 'hand-made', url: pair.sg.emulator!.url, type: 'harbor', description: 'set up by the ops team' });
    const handReg = pair.bj.emulator!.state.registries.find((r) => r.name === 'hand-made')!;
    await admin(pair.bj, 'POST', '/replication/policies', {
      name: 'hand-policy',
      dest_registry: { id: handReg.id },
      trigger: { type: 'manual' },
      enabled: true,
    });
    const made = await admin(pair.bj, 'POST', '/robots', {
      name: 'ops',
      description: 'by hand',
      level: 'system',
      duration: -1,
      permissions: [{ kind: 'project', namespace: 'library', access: [{ resource: 'repository', action: 'pull' }] }],
    });
    await admin(pair.bj, 'PATCH', `/robots/${made.json.id}`, { secret: OPS_HAND });
    const snapshot = () =>
      JSON.stringify({
        reg: pair.bj.emulator!.state.registries.find((r) => r.name === 'hand-made'),
        pol: pair.bj.emulator!.state.policies.find((p) => p.name === 'hand-policy'),
        ops: pair.bj.emulator!.state.robots.find((r) => r.name === 'ops'),
        scratch: pair.bj.emulator!.state.projects.find((p) => p.name === 'scratch'),
      });
    const before = snapshot();

    const original = pair.bj.instance;
    pair.bj.instance = {
      ...original,
      robots: [
        ...original.robots,
        {
          name: 'ops',
          description: 'ops reads',
          duration: -1,
          secret: 'env:HARBOR_ROBOT_OPS',
          permissions: [{ project: 'library', access: ['repository:pull'] }],
        },
      ],
      replication: original.replication.filter((r) => r.name !== 'nightly-full-sync'),
    };
    try {
      const plans = await plan(pair);
      const bj = plans[1]!;
      assert.deepEqual(summary(pending(plans)), [`delete ${BJ}/policy/nightly-full-sync`]);
      const ops = bj.changes.find((c) => c.id === `${BJ}/robot/ops`)!;
      assert.equal(ops.action, 'noop');
      assert.match(ops.reason, /not created by mirrornet/);
      assert.ok(bj.notes.some((n) => n.includes('Robot robot$ops exists in Harbor but was not created by mirrornet')));
      assert.ok(!bj.changes.some((c) => /hand-|scratch/.test(c.id)), 'objects the repository does not name are not even planned');

      const result = await apply(plans);
      assert.equal(result.error, undefined, String(result.error?.error));
      assert.equal(snapshot(), before, 'untouched');
      assert.ok(await robotCanRead(pair.bj, 'robot$ops', OPS_HAND), 'its secret was not re-pinned');
      assert.ok(!pair.bj.emulator!.state.policies.some((p) => p.name === 'nightly-full-sync'));
      assert.deepEqual(summary(pending(await plan(pair))), []);
    } finally {
      pair.bj.instance = original;
    }
  });

  it('reports, and does not try to change, a project whose proxy-cache registry differs (Harbor cannot change it)', async () => {
    await admin(pair.sg, 'POST', '/projects', { project_name: 'mirror2', metadata: { public: 'true' } });
    const original = pair.sg.instance;
    pair.sg.instance = { ...original, projects: [...original.projects, { name: 'mirror2', public: true, proxyCache: { endpoint: 'docker-hub' } }] };
    try {
      const plans = await plan(pair, [pair.sg]);
      assert.deepEqual(summary(pending(plans)), []);
      const c = plans[0]!.changes.filter((x) => x.id === `${SG}/project/mirror2`);
      assert.equal(c.length, 1);
      assert.match(c[0]!.reason, /is a normal project but the repository wants a proxy cache of docker-hub; Harbor cannot change that after creation/);
      assert.ok(plans[0]!.notes.some((n) => n.includes('mirror2')));
    } finally {
      pair.sg.instance = original;
    }
  });

  it('deletes a project it created once it leaves the repository, but not one that still holds repositories', async () => {
    const original = pair.sg.instance;
    pair.sg.instance = { ...original, projects: [...original.projects, { name: 'temp', public: false }, { name: 'busy', public: false }] };
    await converge(pair, [pair.sg]);
    pair.sg.emulator!.state.projects.find((p) => p.name === 'busy')!.repo_count = 2; // images were pushed
    pair.sg.instance = original;
    try {
      const plans = await plan(pair, [pair.sg]);
      assert.deepEqual(summary(pending(plans)), [`delete ${SG}/project/temp`]);
      assert.match(plans[0]!.changes.find((c) => c.id === `${SG}/project/busy`)!.reason, /still holds 2 repositories: not deleted/);
      const result = await apply(plans);
      assert.equal(result.error, undefined);
      assert.ok(!pair.sg.emulator!.state.projects.some((p) => p.name === 'temp'));
      assert.ok(!inventoryOf(pair.sg).includes(`${SG}/project/temp`));
      assert.ok(!plans[0]!.changes.some((c) => c.id === `${SG}/project/scratch`));
    } finally {
      pair.sg.emulator!.state.projects.find((p) => p.name === 'busy')!.repo_count = 0;
    }
  });
});

describe('harbor-api provider in the reconcile engine', () => {
  it('plans, applies with the inventory written ahead, and plans nothing the second time', async () => {
    const pair = await startPair();
    try {
      const core = pair.sg;
      const deps = { ...core.deps, log: captureLogger() };
      const state = structuredClone(EMPTY_STATE);
      const saved: string[][] = [];
      const store = { save: async (s: typeof state) => void saved.push([...(s.inventory['harbor-api'] ?? [])]) } as unknown as StateStore;
      const desired = desiredOf(core, []);
      const first = await planHost(desired, 'rev1', deps, state);
      assert.equal(pendingChanges(first).length, 6);
      const result = await applyHost(first, desired, deps, store, state);
      assert.equal(result.error, undefined, String(result.error?.error));
      assert.equal(result.applied.length, 6);
      assert.ok(saved[0]!.includes(`${SG}/robot/replication-from-beijing`), 'written ahead, before Harbor is touched');
      assert.ok(state.inventory['harbor-api']!.includes(`${SG}/project/dockerhub`));
      const second = await planHost(desired, 'rev1', deps, state);
      assert.deepEqual(pendingChanges(second), []);
      OUTPUT.push(JSON.stringify(first.changes), JSON.stringify(first.notes));
    } finally {
      await pair.close();
    }
  });
});

describe('harbor-api provider: faults', () => {
  it('retries 429, 500s and resets (also after Harbor processed a create) and converges in one run without duplicates', async () => {
    const pair = await startPair();
    try {
      const sg = pair.sg.emulator!;
      const bj = pair.bj.emulator!;
      sg.inject({ method: 'POST', path: '/robots', reset: true, when: 'after' });
      sg.inject({ method: 'PUT', path: '/quotas', status: 429 });
      sg.inject({ method: 'GET', path: '/robots', reset: true });
      bj.inject({ method: 'POST', path: '/registries', status: 500, times: 2 });
      bj.inject({ method: 'POST', path: '/replication/policies', reset: true, when: 'after' });
      bj.inject({ method: 'POST', path: '/projects', status: 502, when: 'after' });
      const result = await apply(await plan(pair));
      assert.equal(result.error, undefined, String(result.error?.error));
      assert.deepEqual(summary(pending(await plan(pair))), []);
      assert.equal(sg.state.robots.filter((r) => r.name === 'replication-from-beijing').length, 1);
      assert.ok(await robotCanRead(pair.sg, 'robot$replication-from-beijing', REPL), 'found again after the reset, and pinned');
      assert.equal(bj.state.registries.filter((r) => r.name === `mirrornet-${SG}`).length, 1);
      assert.equal(bj.state.policies.filter((p) => p.name === 'to-singapore').length, 1);
      assert.equal(bj.state.projects.filter((p) => p.name === 'base').length, 1);
      assert.ok(sg.log.some((e) => e.fault === 'reset') && bj.log.some((e) => e.status === 500));
    } finally {
      await pair.close();
    }
  });

  it('a run that fails mid-apply leaves a plan the next run completes, without duplicates', async () => {
    const failing = await startPair({ retries: 0 });
    try {
      failing.sg.emulator!.inject({ method: 'POST', path: '/robots', reset: true, when: 'after' });
      failing.bj.emulator!.inject({ method: 'POST', path: '/replication/policies', status: 500 });
      const result = await apply(await plan(failing));
      assert.ok(result.error, 'the first run fails');
      const err = result.error.error as HarborApiError;
      assert.ok(err instanceof HarborApiError);
      assert.equal(err.kind, 'network');
      assert.equal(
        err.userMessage,
        `Cannot reach Harbor at ${failing.sg.emulator!.url}: the connection was closed before an answer. Check for a proxy or load balancer in between; ` +
          'the next run tries again. (POST /api/v2.0/robots, 1 attempt(s).)',
      );
      // The robot exists (Harbor processed it) but its secret was never pinned.
      const robot = failing.sg.emulator!.state.robots.find((r) => r.name === 'replication-from-beijing')!;
      assert.equal(markerFingerprint(robot.description), undefined);

      const plans = await plan(failing);
      const sgChanges = pending([plans[0]!]);
      assert.ok(sgChanges.some((c) => c.id === `${SG}/robot/replication-from-beijing` && c.action === 'update' && /never pinned/.test(c.reason)));
      // Second run: the Beijing policy fails once more with a 500 (no retries), the third completes.
      const second = await apply(plans);
      assert.ok(second.error && (second.error.error as HarborApiError).kind === 'server');
      await converge(failing);
      assert.equal(failing.sg.emulator!.state.robots.filter((r) => r.name === 'replication-from-beijing').length, 1);
      assert.equal(failing.bj.emulator!.state.policies.length, 2);
      assert.ok(await robotCanRead(failing.sg, 'robot$replication-from-beijing', REPL));
    } finally {
      await failing.close();
    }
  });

  it('creating the endpoint fails with Harbor\'s 400 "the registry is unhealthy" while the other core is down; the next run converges', async () => {
    const port = await freePort();
    const pair = await startPair({ startSg: false, sgPort: port });
    try {
      const plans = await plan(pair, [pair.bj]);
      const result = await apply(plans);
      const err = result.error?.error as HarborApiError;
      assert.ok(err instanceof HarborApiError);
      assert.equal(err.status, 400);
      assert.equal(err.kind, 'bad-request');
      assert.equal(err.harborMessage, 'the registry is unhealthy');
      assert.deepEqual(err.cause, { errors: [{ code: 'BAD_REQUEST', message: 'the registry is unhealthy' }] });
      assert.match(err.userMessage, /could not reach the remote registry/);
      assert.ok(!pair.bj.emulator!.state.policies.length, 'no policy without its endpoint');
      assert.ok(
        pair.bj.emulator!.state.robots.some((r) => r.name === 'ci-push'),
        'what does not depend on the other core is applied first',
      );
      pair.sg.emulator = await startHarborEmulator({
        listen: { host: '127.0.0.1', port },
        admin: { username: 'admin', password: SG_ADMIN },
        remoteCheck: localCheck,
        requestCheck,
      });
      await converge(pair);
      assert.equal(pair.bj.emulator!.state.policies.length, 2);
    } finally {
      await pair.close();
    }
  });
});

describe('harbor-api provider: what Harbor would refuse is refused before the first call', () => {
  const mutating = (e: HarborEmulator) => e.log.filter((x) => x.method !== 'GET' && x.method !== 'HEAD');

  it("creates nothing when the robot secret it would pin fails Harbor's rule (8-128 bytes, upper, lower, digit)", async () => {
    const pair = await startPair();
    try {
      const weak = secret('weakreplicationsecret');
      pair.sg.env['HARBOR_ROBOT_REPLICATION'] = weak;
      const before = JSON.stringify(pair.sg.emulator!.state);
      pair.sg.emulator!.clearLog();
      const r = await apply(await plan(pair, [pair.sg]));
      assert.ok(r.error?.error instanceof HarborPreflightError, String(r.error?.error));
      assert.deepEqual(r.error.error.refusals, [
        `${SG}/robot/replication-from-beijing: HTTP 400 BAD_REQUEST "the secret must be 8-128, inclusively, characters long with at least 1 ` +
          'uppercase letter, 1 lowercase letter and 1 number".',
      ]);
      assert.match(r.error.error.userMessage, /^Nothing was applied to Harbor harbor-ap-singapore: Harbor 2\.15 would refuse 1 of the changes/);
      assert.deepEqual(mutating(pair.sg.emulator!), [], 'no create, update or pin reached Harbor');
      assert.equal(JSON.stringify(pair.sg.emulator!.state), before, 'no project, robot or quota was created');
      pair.sg.env['HARBOR_ROBOT_REPLICATION'] = REPL;
      await converge(pair, [pair.sg]);
      assert.ok(pair.sg.emulator!.state.robots.some((x) => x.name === 'replication-from-beijing'));
    } finally {
      await pair.close();
    }
  });

  it('creates nothing when a repository value would be refused (a robot access Harbor does not have), and names every refused change', async () => {
    const pair = await startPair();
    try {
      const ci = pair.bj.instance.robots.find((x) => x.name === 'ci-push')!;
      ci.permissions[0]!.access = ['repository:pul'];
      pair.bj.instance.projects.push({ name: 'Upper', public: false });
      const before = JSON.stringify(pair.bj.emulator!.state);
      pair.bj.emulator!.clearLog();
      const r = await apply(await plan(pair, [pair.bj]));
      assert.ok(r.error?.error instanceof HarborPreflightError, String(r.error?.error));
      assert.deepEqual(r.error.error.refusals, [
        `${BJ}/project/Upper: HTTP 400 BAD_REQUEST "project name is not in lower case or contains illegal characters".`,
        `${BJ}/robot/ci-push: HTTP 400 BAD_REQUEST "bad request permission: repository:pul".`,
      ]);
      assert.deepEqual(mutating(pair.bj.emulator!), []);
      assert.equal(JSON.stringify(pair.bj.emulator!.state), before);
    } finally {
      await pair.close();
    }
  });
});

describe('Harbor API client', () => {
  let e: HarborEmulator;
  const PW = secret('Client-Admin-Pw-3');
  before(async () => {
    e = await startHarborEmulator({
      admin: { username: 'admin', password: PW },
      fresh: false,
      seed: { projects: Array.from({ length: 250 }, (_, i) => ({ name: `p${i}` })) },
      requestCheck,
    });
  });
  after(async () => {
    for (const v of e.violations) VIOLATIONS.push(...v.problems);
    await e.close();
  });
  const client = (extra: Partial<ConstructorParameters<typeof HarborApiClient>[0]> = {}) =>
    new HarborApiClient({ url: `${e.url}/api/v2.0/`, username: 'admin', password: PW, sleep: async () => undefined, log: captureLogger(), ...extra });

  it('pages through a list with page_size=100, following Link rel="next"', async () => {
    e.clearLog();
    const projects = await client().listProjects();
    assert.equal(projects.length, 250);
    assert.equal(new Set(projects.map((p) => p.name)).size, 250);
    assert.deepEqual(
      e.log.map((x) => x.query),
      ['page=1&page_size=100', 'page=2&page_size=100', 'page=3&page_size=100'],
    );
  });

  it("parses Harbor's error bodies into typed errors with a cause and a sentence for the user", async () => {
    const err = await client()
      .createProject({ project_name: 'p1' })
      .catch((x: unknown) => x);
    assert.ok(err instanceof HarborApiError);
    assert.equal(err.kind, 'conflict');
    assert.equal(err.code, 'CONFLICT');
    assert.equal(err.status, 409);
    assert.equal(err.harborMessage, 'The project named p1 already exists');
    assert.deepEqual(err.cause, { errors: [{ code: 'CONFLICT', message: 'The project named p1 already exists' }] });
    assert.match(
      err.userMessage,
      /^Harbor at http:\/\/127\.0\.0\.1:\d+ answered POST \/api\/v2\.0\/projects with HTTP 409 CONFLICT: The project named p1 already exists\. An object with that name already exists/,
    );
    const wrong = await new HarborApiClient({ url: e.url, username: 'admin', password: secret('Wrong-Pw-0a') }).listRegistries().catch((x: unknown) => x);
    assert.ok(wrong instanceof HarborApiError);
    assert.equal(wrong.kind, 'unauthorized');
    assert.match(wrong.userMessage, /password its secret reference resolves to/);
    OUTPUT.push(err.message, err.userMessage, wrong.message, wrong.userMessage, JSON.stringify(wrong.cause));
  });

  it('retries 429 and 5xx with exponential backoff and jitter through an injectable sleep, bounded', async () => {
    const delays: number[] = [];
    e.inject({ method: 'GET', path: '/registries', status: 503, times: 10 });
    const err = await client({ retries: 3, baseDelayMs: 100, maxDelayMs: 300, random: () => 1, sleep: async (ms) => void delays.push(ms) })
      .listRegistries()
      .catch((x: unknown) => x);
    e.clearFaults();
    assert.ok(err instanceof HarborApiError);
    assert.equal(err.kind, 'server');
    assert.equal(err.attempts, 4);
    assert.deepEqual(delays, [100, 200, 300]);
    const jittered: number[] = [];
    e.inject({ method: 'GET', path: '/registries', status: 429, times: 2 });
    assert.deepEqual(await client({ baseDelayMs: 100, random: () => 0, sleep: async (ms) => void jittered.push(ms) }).listRegistries(), []);
    assert.deepEqual(jittered, [50, 100], 'jitter keeps at least half of the backoff');
  });

  it('does not retry a POST that is not a create after a reset (it may have been processed)', async () => {
    const c = client();
    e.clearLog();
    e.inject({ method: 'POST', path: '/replication/executions', reset: true });
    const err = await c.startReplication(1).catch((x: unknown) => x);
    assert.ok(err instanceof HarborApiError && err.kind === 'network' && err.attempts === 1);
    assert.equal(e.log.filter((x) => x.path.endsWith('/executions')).length, 1);
  });

  it('reads the rel="next" URL from Harbor\'s Link header', () => {
    assert.equal(
      nextLink('</api/v2.0/projects?page=1&page_size=10>; rel="prev" , </api/v2.0/projects?page=3&page_size=10>; rel="next"'),
      '/api/v2.0/projects?page=3&page_size=10',
    );
    assert.equal(nextLink('</x?page=1>; rel="prev"'), undefined);
    assert.equal(nextLink(null), undefined);
  });
});

describe("harbor-api requests and Harbor's API description", () => {
  it('sends only requests the v2.15.2 description allows: path, method, parameters and body (no property Harbor would drop)', () => {
    assert.deepEqual(VIOLATIONS, []);
  });

  it('has an entry in the constraint inventory for every field, query parameter and header it sends', () => {
    assert.ok(SENT.has('POST /robots body.permissions[].access[].resource') && SENT.has('PATCH /robots/{robot_id} body.secret'), [...SENT].join('\n'));
    const missing = [...SENT].filter((k) => !HARBOR_API_CONSTRAINTS.some((c) => c.key === k)).sort();
    assert.deepEqual(missing, [], 'keys without an entry in agent/src/model/constraints/harbor-api.ts');
  });
});

describe('harbor-api secret hygiene', () => {
  it("no password or secret appears in plans, notes, logs, errors or the emulators' request logs", () => {
    assert.ok(OUTPUT.length > 50, 'the tests above produced output to check');
    const text = OUTPUT.join('\n');
    for (const s of SECRETS) assert.ok(!text.includes(s), `found a secret (${s.slice(0, 3)}...) in the output`);
    assert.ok(!/Basic [A-Za-z0-9+/=]{8,}/.test(text), 'no Authorization header is logged');
  });
});
