// The Harbor emulator against Harbor v2.15's API semantics (swagger v2.15.2 and Harbor's handlers): basic
// auth and its 401 body, 409 on duplicates, 400 "the registry is unhealthy", secrets read back as *****,
// pagination headers, error bodies, robot secret pinning, proxy-cache immutability, cron validation, state
// persistence and the request log. Only 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulateHarbor, emulatorAdmin } from '../../src/testbed/emulators/harbor/cli.js';
import { defaultRemoteCheck, startHarborEmulator, type HarborEmulator, type PolicyView } from '../../src/testbed/emulators/harbor/index.js';
import { parseListen } from '../../src/testbed/emulators/http.js';

const ADMIN = { username: 'admin', password: 'Emu-Admin-Pw-42' };
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const ADMIN_AUTH = basic(ADMIN.username, ADMIN.password);

interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function call(
  e: HarborEmulator,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: ADMIN_AUTH },
): Promise<Res> {
  const res = await fetch(`${e.url}/api/v2.0${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function assertError(r: Res, status: number, code: string, message?: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.ok(Array.isArray(r.json?.errors) && r.json.errors.length === 1, `Harbor error body expected, got ${r.text}`);
  assert.equal(r.json.errors[0].code, code);
  assert.equal(typeof r.json.errors[0].message, 'string');
  if (message) assert.match(r.json.errors[0].message, message);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
}

const robotBody = (name: string, namespace = 'library') => ({
  name,
  description: 'a robot',
  level: 'system',
  duration: -1,
  permissions: [{ kind: 'project', namespace, access: [{ resource: 'repository', action: 'pull' }] }],
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('Harbor emulator', () => {
  let e: HarborEmulator;
  let healthy = true;
  const checked: string[] = [];
  before(async () => {
    e = await startHarborEmulator({
      admin: ADMIN,
      remoteCheck: async (url) => {
        checked.push(url);
        return healthy;
      },
    });
  });
  after(async () => e.close());
  beforeEach(() => {
    healthy = true;
  });

  describe('system endpoints and authentication', () => {
    it('answers /ping with Pong, /health and /systeminfo without authentication', async () => {
      const ping = await call(e, 'GET', '/ping', undefined, {});
      assert.equal(ping.status, 200);
      assert.equal(ping.text, 'Pong');
      assert.match(ping.headers.get('content-type') ?? '', /^text\/plain/);
      const health = await call(e, 'GET', '/health', undefined, {});
      assert.equal(health.status, 200);
      assert.equal(health.json.status, 'healthy');
      assert.ok(health.json.components.some((c: { name: string }) => c.name === 'core'));
      const info = await call(e, 'GET', '/systeminfo', undefined, {});
      assert.equal(info.status, 200);
      assert.match(info.json.harbor_version, /^v2\.15\.2/);
      assert.equal(info.json.external_url, undefined, 'anonymous callers get the reduced system info');
      const full = await call(e, 'GET', '/systeminfo');
      assert.equal(full.json.external_url, e.url);
    });

    it("refuses anonymous writes and wrong passwords with 401 and Harbor's error body", async () => {
      assertError(await call(e, 'POST', '/projects', { project_name: 'nope' }, {}), 401, 'UNAUTHORIZED');
      assertError(await call(e, 'GET', '/registries', undefined, {}), 401, 'UNAUTHORIZED');
      assertError(await call(e, 'GET', '/registries', undefined, { authorization: basic('admin', 'wrong') }), 401, 'UNAUTHORIZED');
      assertError(await call(e, 'GET', '/projects', undefined, { authorization: basic('admin', 'wrong') }), 401, 'UNAUTHORIZED');
      assertError(await call(e, 'GET', '/robots', undefined, { authorization: 'Bearer abc' }), 401, 'UNAUTHORIZED');
    });

    it('lists only public projects to anonymous callers', async () => {
      const r = await call(e, 'GET', '/projects', undefined, {});
      assert.equal(r.status, 200);
      assert.ok(r.json.every((p: { metadata: { public: string } }) => p.metadata.public === 'true'));
      assert.ok(
        r.json.some((p: { name: string }) => p.name === 'library'),
        'a fresh Harbor has the public project library',
      );
    });

    it('answers unknown paths and methods with error bodies', async () => {
      assertError(await call(e, 'GET', '/nothing-here'), 404, 'NOT_FOUND');
      assertError(await call(e, 'PATCH', '/projects'), 405, 'METHOD_NOT_ALLOWED');
      assertError(await call(e, 'POST', '/projects', '{not json'), 400, 'BAD_REQUEST');
    });
  });

  describe('projects and quotas', () => {
    it('creates a project (201, Location), refuses a duplicate (409) and a bad name (400)', async () => {
      const r = await call(e, 'POST', '/projects', { project_name: 'apps', metadata: { public: 'false' }, storage_limit: 1024 ** 3 });
      assert.equal(r.status, 201);
      assert.match(r.headers.get('location') ?? '', /^\/api\/v2\.0\/projects\/\d+$/);
      assertError(await call(e, 'POST', '/projects', { project_name: 'apps' }), 409, 'CONFLICT', /already exists/);
      assertError(await call(e, 'POST', '/projects', { project_name: 'Bad_Name' }), 400, 'BAD_REQUEST');
      assertError(await call(e, 'POST', '/projects', { project_name: 'x', metadata: { public: 'yes' } }), 400, 'BAD_REQUEST');
      const byName = await call(e, 'POST', '/projects', { project_name: 'apps2' }, { authorization: ADMIN_AUTH, 'X-Resource-Name-In-Location': 'true' });
      assert.equal(byName.headers.get('location'), '/api/v2.0/projects/apps2');
    });

    it('HEAD /projects tells whether a name exists', async () => {
      assert.equal((await call(e, 'HEAD', '/projects?project_name=apps')).status, 200);
      assert.equal((await call(e, 'HEAD', '/projects?project_name=absent')).status, 404);
    });

    it('reads a project by id or, with X-Is-Resource-Name, by name (a name made of digits too)', async () => {
      await call(e, 'POST', '/projects', { project_name: '123' });
      const byName = await call(e, 'GET', '/projects/123', undefined, { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' });
      assert.equal(byName.status, 200);
      assert.equal(byName.json.name, '123');
      const byId = await call(e, 'GET', '/projects/1');
      assert.equal(byId.json.name, 'library');
      assertError(await call(e, 'GET', '/projects/absent', undefined, { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' }), 404, 'NOT_FOUND');
    });

    it('PUT changes the metadata only; the quota goes through /quotas', async () => {
      const before = (await call(e, 'GET', '/projects/apps', undefined, { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' })).json;
      const put = await call(
        e,
        'PUT',
        '/projects/apps',
        { project_name: 'renamed', metadata: { public: 'true' }, storage_limit: 5 },
        { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' },
      );
      assert.equal(put.status, 200);
      const afterPut = (await call(e, 'GET', `/projects/${before.project_id}`)).json;
      assert.equal(afterPut.name, 'apps');
      assert.equal(afterPut.metadata.public, 'true');
      const quotas = await call(e, 'GET', `/quotas?reference=project&reference_id=${before.project_id}`);
      assert.equal(quotas.status, 200);
      assert.equal(quotas.json.length, 1);
      assert.equal(quotas.json[0].hard.storage, 1024 ** 3, 'storage_limit in PUT /projects is ignored');
      assert.deepEqual(quotas.json[0].ref, { id: before.project_id, name: 'apps', owner_name: 'admin' });
      const q = quotas.json[0].id as number;
      assert.equal((await call(e, 'PUT', `/quotas/${q}`, { hard: { storage: 2048 } })).status, 200);
      assert.equal((await call(e, 'GET', `/quotas/${q}`)).json.hard.storage, 2048);
      assertError(await call(e, 'PUT', `/quotas/${q}`, { hard: { storage: -5 } }), 400, 'BAD_REQUEST');
      assertError(await call(e, 'PUT', '/quotas/9999', { hard: { storage: 1 } }), 404, 'NOT_FOUND');
    });

    it('makes a proxy cache with registry_id, which later updates cannot change', async () => {
      const reg = await call(e, 'POST', '/registries', { name: 'hub', url: 'https://hub.docker.com', type: 'docker-hub' });
      assert.equal(reg.status, 201);
      const regId = Number(/(\d+)$/.exec(reg.headers.get('location')!)![1]);
      const other = await call(e, 'POST', '/registries', { name: 'other', url: 'https://other.example', type: 'docker-registry' });
      const otherId = Number(/(\d+)$/.exec(other.headers.get('location')!)![1]);
      assert.equal((await call(e, 'POST', '/projects', { project_name: 'proxy', registry_id: regId, metadata: { public: 'true' } })).status, 201);
      const p = (await call(e, 'GET', '/projects/proxy', undefined, { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' })).json;
      assert.equal(p.registry_id, regId);
      await call(
        e,
        'PUT',
        '/projects/proxy',
        { registry_id: otherId, metadata: { public: 'false' } },
        { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' },
      );
      const again = (await call(e, 'GET', '/projects/proxy', undefined, { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' })).json;
      assert.equal(again.registry_id, regId, 'registry_id is immutable');
      assert.equal(again.metadata.public, 'false');
      // validateProjectReq wraps the lookup's error in a plain error: Harbor answers 500.
      assertError(await call(e, 'POST', '/projects', { project_name: 'proxy2', registry_id: 9999 }), 500, 'UNKNOWN', /^internal server error$/);
      assertError(await call(e, 'DELETE', `/registries/${regId}`), 412, 'PRECONDITION', /proxy cache project/);
    });

    it('refuses to delete a project that holds repositories (412)', async () => {
      const seeded = await startHarborEmulator({ admin: ADMIN, seed: { projects: [{ name: 'busy', repo_count: 3 }] } });
      try {
        assertError(
          await call(seeded, 'DELETE', '/projects/busy', undefined, { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' }),
          412,
          'PRECONDITION',
          /contains repositories/,
        );
        await call(seeded, 'POST', '/projects', { project_name: 'idle' });
        assert.equal((await call(seeded, 'DELETE', '/projects/idle', undefined, { authorization: ADMIN_AUTH, 'X-Is-Resource-Name': 'true' })).status, 200);
        assert.equal((await call(seeded, 'HEAD', '/projects?project_name=idle')).status, 404);
        assert.ok(!seeded.state.quotas.some((q) => !seeded.state.projects.some((p) => p.project_id === q.project_id)), 'the quota goes with its project');
      } finally {
        await seeded.close();
      }
    });
  });

  describe('pagination', () => {
    let paged: HarborEmulator;
    before(async () => {
      paged = await startHarborEmulator({
        admin: ADMIN,
        fresh: false,
        seed: { projects: Array.from({ length: 25 }, (_, i) => ({ name: `p${String(i).padStart(2, '0')}` })) },
      });
    });
    after(async () => paged.close());

    it('defaults to 10 per page with X-Total-Count and a Link rel="next"', async () => {
      const r = await call(paged, 'GET', '/projects');
      assert.equal(r.json.length, 10);
      assert.equal(r.headers.get('x-total-count'), '25');
      assert.equal(r.headers.get('link'), '</api/v2.0/projects?page=2&page_size=10>; rel="next"');
    });

    it('links prev and next from a middle page and keeps other query parameters', async () => {
      const r = await call(paged, 'GET', '/projects?page=2&page_size=10&with_detail=true');
      assert.deepEqual(
        r.json.map((p: { name: string }) => p.name),
        Array.from({ length: 10 }, (_, i) => `p${String(i + 10).padStart(2, '0')}`),
      );
      assert.equal(
        r.headers.get('link'),
        '</api/v2.0/projects?page=1&page_size=10&with_detail=true>; rel="prev" , </api/v2.0/projects?page=3&page_size=10&with_detail=true>; rel="next"',
      );
      const last = await call(paged, 'GET', '/projects?page=3&page_size=10');
      assert.equal(last.json.length, 5);
      assert.equal(last.headers.get('link'), '</api/v2.0/projects?page=2&page_size=10>; rel="prev"');
      const all = await call(paged, 'GET', '/projects?page_size=100');
      assert.equal(all.json.length, 25);
      assert.equal(all.headers.get('link'), null);
    });

    it('refuses page_size above 100', async () => {
      const r = await call(paged, 'GET', '/projects?page_size=101');
      assertError(r, 422, 'UNPROCESSABLE_ENTITY', /less than or equal to 100/);
    });
  });

  describe('registries', () => {
    it('pings the remote on create and update: 400 "the registry is unhealthy" when it does not answer', async () => {
      healthy = false;
      assertError(
        await call(e, 'POST', '/registries', { name: 'down', url: 'https://down.example', type: 'harbor' }),
        400,
        'BAD_REQUEST',
        /^the registry is unhealthy$/,
      );
      assert.ok(!e.state.registries.some((r) => r.name === 'down'), 'nothing is stored');
      healthy = true;
      const r = await call(e, 'POST', '/registries', {
        name: 'peer',
        url: 'https://peer.example/',
        type: 'harbor',
        credential: { type: 'basic', access_key: 'robot$x', access_secret: 'Peer-Secret-1' },
      });
      assert.equal(r.status, 201);
      const id = Number(/(\d+)$/.exec(r.headers.get('location')!)![1]);
      healthy = false;
      assertError(await call(e, 'PUT', `/registries/${id}`, { url: 'https://elsewhere.example' }), 400, 'BAD_REQUEST', /unhealthy/);
      healthy = true;
      assert.equal(
        (await call(e, 'GET', `/registries/${id}`)).json.url,
        'https://peer.example',
        'Harbor trims the trailing slash; the failed update changed nothing',
      );
    });

    it('really checks the remote by default: a closed port is unhealthy, a live Harbor is healthy', async () => {
      const port = await freePort();
      assert.equal(await defaultRemoteCheck(`http://127.0.0.1:${port}`, { type: 'harbor', insecure: false }), false);
      assert.equal(await defaultRemoteCheck(e.url, { type: 'harbor', insecure: false }), true);
    });

    it('reads secrets back as ***** and takes the flat RegistryUpdate body', async () => {
      const list = await call(e, 'GET', '/registries?q=name=peer');
      assert.equal(list.json.length, 1);
      const reg = list.json[0];
      assert.deepEqual(reg.credential, { type: 'basic', access_key: 'robot$x', access_secret: '*****' });
      assert.ok(!list.text.includes('Peer-Secret-1'));
      const put = await call(e, 'PUT', `/registries/${reg.id}`, {
        description: 'edited',
        access_key: 'robot$y',
        access_secret: 'Peer-Secret-2',
        credential_type: 'basic',
      });
      assert.equal(put.status, 200);
      const got = await call(e, 'GET', `/registries/${reg.id}`);
      assert.equal(got.json.description, 'edited');
      assert.equal(got.json.credential.access_key, 'robot$y');
      assert.equal(got.json.credential.access_secret, '*****');
      assert.equal(e.registrySecret(reg.id), 'Peer-Secret-2');
    });

    it("refuses duplicates (409), bad URLs (400), unknown ids (404), and a type without an adapter with a 500 (adp.GetFactory's plain error)", async () => {
      assertError(await call(e, 'POST', '/registries', { name: 'peer', url: 'https://peer2.example', type: 'harbor' }), 409, 'CONFLICT');
      assertError(await call(e, 'POST', '/registries', { name: 'x', url: 'https://x.example', type: 'nexus' }), 500, 'UNKNOWN', /^internal server error$/);
      assertError(await call(e, 'POST', '/registries', { name: 'x', url: 'ftp://x.example', type: 'harbor' }), 400, 'BAD_REQUEST', /scheme/);
      assertError(await call(e, 'POST', '/registries', { name: '', url: 'https://x.example', type: 'harbor' }), 400, 'BAD_REQUEST');
      assertError(await call(e, 'GET', '/registries/9999'), 404, 'NOT_FOUND');
      assertError(await call(e, 'DELETE', '/registries/9999'), 404, 'NOT_FOUND');
    });
  });

  describe('replication policies and executions', () => {
    let regId: number;
    before(async () => {
      regId = e.state.registries.find((r) => r.name === 'peer')!.id;
    });
    const policy = (extra: Record<string, unknown>) => ({
      name: 'p1',
      description: 'push',
      filters: [{ type: 'name', value: 'library/**' }],
      trigger: { type: 'manual' },
      override: true,
      enabled: true,
      ...extra,
    });

    it('needs exactly one of src_registry and dest_registry', async () => {
      assertError(
        await call(e, 'POST', '/replication/policies', policy({ src_registry: { id: regId }, dest_registry: { id: regId } })),
        400,
        'BAD_REQUEST',
        /either src_registry or dest_registry/,
      );
      assertError(await call(e, 'POST', '/replication/policies', policy({})), 400, 'BAD_REQUEST', /either src_registry or dest_registry/);
    });

    it('validates the cron: 6 fields, seconds 0, no * in the minutes', async () => {
      const scheduled = (cron: string, name = 'sched') =>
        policy({ name, dest_registry: { id: regId }, trigger: { type: 'scheduled', trigger_settings: { cron } } });
      assertError(await call(e, 'POST', '/replication/policies', scheduled('0 3 * * *')), 400, 'BAD_REQUEST', /invalid cron/);
      assertError(await call(e, 'POST', '/replication/policies', scheduled('5 0 3 * * *')), 400, 'BAD_REQUEST', /1st field/);
      assertError(await call(e, 'POST', '/replication/policies', scheduled('0 * 3 * * *')), 400, 'BAD_REQUEST', /Minutes field/);
      assertError(await call(e, 'POST', '/replication/policies', scheduled('')), 400, 'BAD_REQUEST', /cannot be empty/);
      assertError(
        await call(e, 'POST', '/replication/policies', policy({ dest_registry: { id: regId }, trigger: { type: 'hourly' } })),
        400,
        'BAD_REQUEST',
        /trigger type/,
      );
      assert.equal((await call(e, 'POST', '/replication/policies', scheduled('0 0 3 * * *'))).status, 201);
      assert.equal((await call(e, 'POST', '/replication/policies', scheduled('0 */15 * * * *', 'every-quarter'))).status, 201);
    });

    it('reads `deletion` on write and ignores `replicate_deletion`; negative speeds become 0', async () => {
      const r = await call(e, 'POST', '/replication/policies', policy({ dest_registry: { id: regId }, deletion: true, replicate_deletion: false, speed: -1 }));
      assert.equal(r.status, 201);
      const id = Number(/(\d+)$/.exec(r.headers.get('location')!)![1]);
      const got = (await call(e, 'GET', `/replication/policies/${id}`)).json;
      assert.equal(got.deletion, true);
      assert.equal(got.replicate_deletion, true);
      assert.equal(got.speed, 0);
      assert.equal(got.dest_registry.id, regId);
      assert.equal(got.dest_registry.credential.access_secret, '*****');
      assert.equal(got.src_registry.id, 0, 'the local Harbor fills the other side on reads');
      const put = await call(e, 'PUT', `/replication/policies/${id}`, policy({ dest_registry: { id: regId }, replicate_deletion: true }));
      assert.equal(put.status, 200);
      assert.equal((await call(e, 'GET', `/replication/policies/${id}`)).json.deletion, false, 'replicate_deletion alone is ignored');
      assertError(await call(e, 'POST', '/replication/policies', policy({ dest_registry: { id: regId } })), 409, 'CONFLICT');
      assertError(await call(e, 'POST', '/replication/policies', policy({ name: 'ghost', dest_registry: { id: 9999 } })), 404, 'NOT_FOUND');
      assertError(await call(e, 'DELETE', `/registries/${regId}`), 412, 'PRECONDITION', /replication policies/);
    });

    it('records executions (201 Location) and runs the pluggable execution hook', async () => {
      const p1 = e.state.policies.find((p) => p.name === 'p1')!;
      const r = await call(e, 'POST', '/replication/executions', { policy_id: p1.id });
      assert.equal(r.status, 201);
      assert.match(r.headers.get('location') ?? '', /^\/api\/v2\.0\/replication\/executions\/\d+$/);
      const list = await call(e, 'GET', `/replication/executions?policy_id=${p1.id}`);
      assert.equal(list.json[0].status, 'Succeed');
      assertError(await call(e, 'POST', '/replication/executions', { policy_id: 9999 }), 404, 'NOT_FOUND');

      const seen: PolicyView[] = [];
      const hooked = await startHarborEmulator({
        admin: ADMIN,
        remoteCheck: async () => true,
        onExecution: async (policy, emulator) => {
          seen.push(policy);
          assert.equal(emulator.registrySecret(policy.destRegistry!.id), 'Hook-Secret-1');
          return { status: 'Succeed', total: 3, succeed: 3 };
        },
      });
      try {
        await call(hooked, 'POST', '/registries', {
          name: 'dst',
          url: 'https://dst.example',
          type: 'harbor',
          credential: { type: 'basic', access_key: 'robot$r', access_secret: 'Hook-Secret-1' },
        });
        await call(hooked, 'POST', '/replication/policies', policy({ dest_registry: { id: 1 } }));
        await call(hooked, 'POST', '/replication/executions', { policy_id: 1 });
        for (let i = 0; i < 50 && hooked.state.executions[0]?.status === 'InProgress'; i++) await new Promise((r) => setTimeout(r, 10));
        const exec = (await call(hooked, 'GET', '/replication/executions/1')).json;
        assert.equal(exec.status, 'Succeed');
        assert.equal(exec.total, 3);
        assert.equal(seen[0]?.name, 'p1');
      } finally {
        await hooked.close();
      }
    });
  });

  describe('robot accounts', () => {
    let id: number;
    let secret: string;
    it("returns the secret only at creation, with Harbor's robot$ prefix", async () => {
      const r = await call(e, 'POST', '/robots', { ...robotBody('puller'), secret: 'Ignored-Secret-1' });
      assert.equal(r.status, 201);
      assert.equal(r.json.name, 'robot$puller');
      assert.match(r.json.secret, /^[A-Za-z0-9]{8,}$/);
      assert.notEqual(r.json.secret, 'Ignored-Secret-1', 'Harbor generates the secret at creation');
      id = r.json.id;
      secret = r.json.secret;
      const got = await call(e, 'GET', `/robots/${id}`);
      assert.equal(got.json.name, 'robot$puller');
      assert.equal(got.json.secret, undefined);
      const list = await call(e, 'GET', '/robots');
      assert.ok(list.json.every((x: { secret?: string }) => x.secret === undefined));
      assert.ok(!list.text.includes(secret));
    });

    it('lets the robot authenticate for reads, not writes', async () => {
      const auth = { authorization: basic('robot$puller', secret) };
      assert.equal((await call(e, 'GET', '/projects', undefined, auth)).status, 200);
      assertError(await call(e, 'POST', '/projects', { project_name: 'byrobot' }, auth), 403, 'FORBIDDEN');
    });

    it('pins a secret with PATCH {secret} (strength checked); without one Harbor picks a new one', async () => {
      assertError(await call(e, 'PATCH', `/robots/${id}`, { secret: 'weak' }), 400, 'BAD_REQUEST', /^the secret must be 8-128, inclusively, characters long/);
      assertError(await call(e, 'PATCH', `/robots/${id}`, { secret: 'alllowercase1' }), 400, 'BAD_REQUEST');
      const pinned = await call(e, 'PATCH', `/robots/${id}`, { secret: 'Pinned-Secret-9' });
      assert.equal(pinned.status, 200);
      assert.deepEqual(pinned.json, {});
      assert.equal((await call(e, 'GET', '/projects', undefined, { authorization: basic('robot$puller', 'Pinned-Secret-9') })).status, 200);
      assertError(await call(e, 'GET', '/robots', undefined, { authorization: basic('robot$puller', secret) }), 401, 'UNAUTHORIZED');
      const fresh = await call(e, 'PATCH', `/robots/${id}`, {});
      assert.equal(fresh.status, 200);
      assert.match(fresh.json.secret, /^[A-Za-z0-9]{8,}$/);
      await call(e, 'PATCH', `/robots/${id}`, { secret: 'Pinned-Secret-9' });
    });

    it('updates with PUT (full robot, name and level unchanged), refuses duplicates and bad input', async () => {
      const bad = await call(e, 'PUT', `/robots/${id}`, { ...robotBody('puller'), description: 'renamed?' });
      assertError(bad, 400, 'BAD_REQUEST', /level or name/);
      const ok = await call(e, 'PUT', `/robots/${id}`, { ...robotBody('puller'), name: 'robot$puller', description: 'edited', duration: 30 });
      assert.equal(ok.status, 200);
      const got = (await call(e, 'GET', `/robots/${id}`)).json;
      assert.equal(got.description, 'edited');
      assert.equal(got.duration, 30);
      assertError(await call(e, 'POST', '/robots', robotBody('puller')), 409, 'CONFLICT');
      assertError(await call(e, 'POST', '/robots', robotBody('Bad+Name')), 400, 'BAD_REQUEST');
      assertError(await call(e, 'POST', '/robots', { ...robotBody('nope'), permissions: [] }), 400, 'BAD_REQUEST', /empty permission/);
      assertError(await call(e, 'POST', '/robots', robotBody('nope', 'no-such-project')), 404, 'NOT_FOUND');
      assertError(await call(e, 'GET', '/robots/9999'), 404, 'NOT_FOUND');
      assert.equal((await call(e, 'DELETE', `/robots/${id}`)).status, 200);
      assertError(await call(e, 'DELETE', `/robots/${id}`), 404, 'NOT_FOUND');
    });

    it('names project-level robots robot$<project>+<name>', async () => {
      const r = await call(e, 'POST', '/robots', { ...robotBody('ci'), level: 'project' });
      assert.equal(r.json.name, 'robot$library+ci');
      const listed = await call(e, 'GET', '/robots?q=Level=project,ProjectID=1');
      assert.deepEqual(
        listed.json.map((x: { name: string }) => x.name),
        ['robot$library+ci'],
      );
      assert.ok(!(await call(e, 'GET', '/robots')).json.some((x: { name: string }) => x.name === 'robot$library+ci'), 'the default list has the system robots');
    });
  });

  describe('request log and faults', () => {
    it('logs method, path and status, never credentials or secrets, at /_emulator/log', async () => {
      const before = e.log.length;
      await call(e, 'POST', '/registries', {
        name: 'logged',
        url: 'https://logged.example',
        type: 'harbor',
        credential: { type: 'basic', access_key: 'robot$l', access_secret: 'Log-Secret-77' },
      });
      await call(e, 'GET', '/registries?page=1&page_size=100');
      const res = await fetch(`${e.url}/_emulator/log`);
      const body = (await res.json()) as { entries: { method: string; path: string; status: number; query: string }[] };
      const mine = body.entries.slice(before);
      assert.deepEqual(
        mine.map((x) => [x.method, x.path, x.status]),
        [
          ['POST', '/api/v2.0/registries', 201],
          ['GET', '/api/v2.0/registries', 200],
        ],
      );
      assert.equal(mine[1]!.query, 'page=1&page_size=100');
      const text = JSON.stringify(body);
      for (const s of ['Log-Secret-77', ADMIN.password, ADMIN_AUTH.slice(6), 'Pinned-Secret-9']) assert.ok(!text.includes(s), `log holds ${s}`);
      assert.equal((await fetch(`${e.url}/_emulator/log`, { method: 'DELETE' })).status, 200);
      assert.equal(e.log.length, 0);
    });

    it('injects statuses and resets, before or after the request is processed, also over HTTP', async () => {
      e.inject({ method: 'GET', path: '/projects', status: 503 });
      assertError(await call(e, 'GET', '/projects'), 503, 'SERVICE_UNAVAILABLE');
      assert.equal((await call(e, 'GET', '/projects')).status, 200, 'a fault hits once by default');
      await fetch(`${e.url}/_emulator/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ method: 'POST', path: '/api/v2.0/projects', reset: true, when: 'after' }),
      });
      await assert.rejects(call(e, 'POST', '/projects', { project_name: 'afterreset' }));
      assert.ok(
        e.state.projects.some((p) => p.name === 'afterreset'),
        'processed before the connection dropped',
      );
      assert.equal(e.log.at(-1)?.fault, 'reset');
      e.inject({ method: 'POST', path: /\/robots$/, status: 429, times: 2 });
      assertError(await call(e, 'POST', '/robots', robotBody('limited')), 429, 'TOO_MANY_REQUESTS');
      assertError(await call(e, 'POST', '/robots', robotBody('limited')), 429, 'TOO_MANY_REQUESTS');
      assert.equal((await call(e, 'POST', '/robots', robotBody('limited'))).status, 201);
    });
  });

  describe('state file, seed and the CLI helper', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'mn-harbor-emu-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('persists the state atomically (mode 0600) and loads it at the next start; the seed only fills a new state', async () => {
      const file = join(dir, 'state.json');
      const seed = {
        robots: [{ name: 'seeded', secret: 'Seed-Secret-1', permissions: [{ namespace: 'library', access: [{ resource: 'repository', action: 'pull' }] }] }],
      };
      const first = await startHarborEmulator({ admin: ADMIN, stateFile: file, seed, remoteCheck: async () => true });
      await call(first, 'POST', '/projects', { project_name: 'kept' });
      await call(first, 'POST', '/registries', {
        name: 'kept-reg',
        url: 'https://k.example',
        type: 'harbor',
        credential: { type: 'basic', access_key: 'a', access_secret: 'Kept-Secret-1' },
      });
      assert.equal(
        (await call(first, 'GET', '/projects', undefined, { authorization: basic('robot$seeded', 'Seed-Secret-1') })).status,
        200,
        'a seeded robot authenticates with its seed secret',
      );
      await first.close();
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ['state.json'], 'no temporary files left behind');
      const second = await startHarborEmulator({ admin: ADMIN, stateFile: file, seed: { projects: [{ name: 'not-applied' }] } });
      try {
        assert.equal((await call(second, 'HEAD', '/projects?project_name=kept')).status, 200);
        assert.equal((await call(second, 'HEAD', '/projects?project_name=not-applied')).status, 404);
        assert.equal(second.registrySecret(second.state.registries[0]!.id), 'Kept-Secret-1');
        assert.equal(
          (await call(second, 'GET', '/projects', undefined, { authorization: basic('robot$seeded', 'Seed-Secret-1') })).status,
          200,
          'robot secrets survive a restart',
        );
      } finally {
        await second.close();
      }
    });

    it('rejects a state file that is not an emulator state', async () => {
      const file = join(dir, 'broken.json');
      writeFileSync(file, '{"hello": 1}');
      await assert.rejects(startHarborEmulator({ admin: ADMIN, stateFile: file }), /not a Harbor emulator state/);
    });

    it("takes the admin password from the flag, a file, the environment, the seed file, or Harbor's default (and says so)", () => {
      const pwFile = join(dir, 'pw');
      writeFileSync(pwFile, 'From-File-Pw-1\n');
      assert.deepEqual(emulatorAdmin({ adminPassword: 'Flag-Pw-1' }, {}).admin, { username: 'admin', password: 'Flag-Pw-1' });
      assert.deepEqual(emulatorAdmin({ adminPasswordFile: pwFile }, {}).admin, { username: 'admin', password: 'From-File-Pw-1' });
      assert.deepEqual(emulatorAdmin({}, { HARBOR_ADMIN_PASSWORD: 'Env-Pw-1' }).admin, { username: 'admin', password: 'Env-Pw-1' });
      const fallback = emulatorAdmin({}, {});
      assert.equal(fallback.admin?.password, 'Harbor12345');
      assert.match(fallback.note ?? '', /Harbor's default password/);
    });

    it('parses --listen like host:port, :port or a port', () => {
      assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
      assert.deepEqual(parseListen(':9000'), { host: '127.0.0.1', port: 9000 });
      assert.deepEqual(parseListen('7000'), { host: '127.0.0.1', port: 7000 });
      assert.deepEqual(parseListen('[::1]:81'), { host: '::1', port: 81 });
      assert.throws(() => parseListen('nope'), /host:port/);
    });

    it('runs from the CLI helper until stopped, with the admin from a seed file', async () => {
      const seedFile = join(dir, 'seed.yaml');
      writeFileSync(seedFile, 'admin:\n  username: admin\n  password: Seed-Admin-Pw-1\nprojects:\n  - name: from-seed\n    public: true\n');
      const port = await freePort();
      let out = '';
      let err = '';
      const stop = new AbortController();
      const running = emulateHarbor(
        { listen: `127.0.0.1:${port}`, config: seedFile, state: join(dir, 'cli-state.json') },
        { stdout: (s) => (out += s), stderr: (s) => (err += s) },
        stop.signal,
        {},
        {},
      );
      for (let i = 0; i < 100 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 10));
      assert.match(out, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}`));
      const res = await fetch(`http://127.0.0.1:${port}/api/v2.0/projects?q=name=from-seed`, { headers: { authorization: basic('admin', 'Seed-Admin-Pw-1') } });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as unknown[]).length, 1);
      stop.abort();
      assert.equal(await running, 0);
      assert.ok(!out.includes('Seed-Admin-Pw-1') && !err.includes('Seed-Admin-Pw-1'), 'the password is never printed');
    });
  });
});
