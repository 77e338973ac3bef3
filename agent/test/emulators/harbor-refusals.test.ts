// The Harbor emulator refuses what Harbor v2.15.2 refuses, the way Harbor refuses it: for every check of the
// objects mirrornet creates (projects, quotas, registries, replication policies, robots), the request, and
// the status, code and message Harbor's handler answers with (quoted from goharbor/harbor v2.15.2: the file is
// named with each case). A refused request changes nothing. Also: with Harbor's API description as its
// request check, the emulator answers a request the description does not allow with 422. Only 127.0.0.1.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startHarborEmulator, type HarborEmulator } from '../../src/testbed/emulators/harbor/index.js';
import { HarborOpenApi } from '../../src/testbed/emulators/harbor/openapi.js';

const ADMIN = { username: 'admin', password: 'Emu-Admin-Pw-42' };
const AUTH = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;
const SWAGGER = fileURLToPath(new URL('../../../test/fixtures/harbor/harbor-api-v2.15.2.swagger.yaml', import.meta.url));

async function call(e: HarborEmulator, method: string, path: string, body?: unknown) {
  const res = await fetch(`${e.url}/api/v2.0${path}`, {
    method,
    headers: { authorization: AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as { errors?: { code: string; message: string }[] }) : undefined };
}

const robot = (extra: Record<string, unknown>) => ({
  name: 'r1',
  description: 'a robot',
  level: 'system',
  duration: -1,
  disable: false,
  permissions: [{ kind: 'project', namespace: 'library', access: [{ resource: 'repository', action: 'pull' }] }],
  ...extra,
});

interface Case {
  /** The upstream code that answers (goharbor/harbor v2.15.2). */
  upstream: string;
  what: string;
  method: string;
  path: string | ((e: HarborEmulator) => string);
  body: unknown;
  status: number;
  code: string;
  message: string;
}

const CASES: Case[] = [
  // ---- projects (handler/project.go, pkg/project/manager.go, lib/quota_storage_limit.go) ----
  {
    upstream: 'pkg/project/manager.go Create',
    what: 'a project name with upper case letters',
    method: 'POST',
    path: '/projects',
    body: { project_name: 'Base' },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'project name is not in lower case or contains illegal characters',
  },
  {
    upstream: 'swagger ProjectReq.project_name maxLength (go-swagger, before the handler)',
    what: 'a project name of 256 characters',
    method: 'POST',
    path: '/projects',
    body: { project_name: 'a'.repeat(256) },
    status: 422,
    code: 'UNPROCESSABLE_ENTITY',
    message: 'validation failure list:\nproject_name in body should be at most 255 chars long',
  },
  {
    upstream: 'pkg/project/manager.go Create',
    what: 'an empty project name',
    method: 'POST',
    path: '/projects',
    body: { project_name: '' },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'Project name  is illegal in length. (greater than 255 or less than 1)',
  },
  {
    upstream: 'handler/project.go CreateProject',
    what: 'metadata.public that is not "true" or "false"',
    method: 'POST',
    path: '/projects',
    body: { project_name: 'base', metadata: { public: 'yes' } },
    status: 400,
    code: 'BAD_REQUEST',
    message: "metadata.public should only be 'true' or 'false', but got: 'yes'",
  },
  {
    upstream: 'handler/project.go validateProjectReq -> lib.ValidateQuotaLimit',
    what: 'a negative storage limit',
    method: 'POST',
    path: '/projects',
    body: { project_name: 'base', storage_limit: -5 },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'bad request: invalid non-positive value for quota limit, value=-5',
  },
  {
    upstream: 'lib.ValidateQuotaLimit (types.MaxLimitedValue)',
    what: 'a storage limit above 1024 TB',
    method: 'POST',
    path: '/projects',
    body: { project_name: 'base', storage_limit: 1125899906842625 },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'bad request: exceeded 1024TB, which is 1125899906842624 Bytes, value=1125899906842625',
  },
  {
    upstream: 'handler/project.go validateProjectReq',
    what: 'a proxy cache with registry_id 0',
    method: 'POST',
    path: '/projects',
    body: { project_name: 'base', registry_id: 0 },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'bad request: 0 is invalid value of registry_id, it should be geater than 0',
  },
  {
    upstream: 'handler/quota.go UpdateQuota -> controller/quota/driver/project Validate',
    what: 'a quota of 0 bytes',
    method: 'PUT',
    path: '/quotas/1',
    body: { hard: { storage: 0 } },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'invalid non-positive value for quota limit, value=0',
  },
  {
    upstream: 'controller/quota/driver/project Validate',
    what: 'a quota on another resource than storage',
    method: 'PUT',
    path: '/quotas/1',
    body: { hard: { count: 10 } },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'resource count not support',
  },
  {
    upstream: 'handler/quota.go UpdateQuota',
    what: 'a quota update without hard limits',
    method: 'PUT',
    path: '/quotas/1',
    body: {},
    status: 400,
    code: 'BAD_REQUEST',
    message: 'hard required in body',
  },
  // ---- registries (controller/registry/controller.go validate, lib/endpoint.go) ----
  {
    upstream: 'controller/registry/controller.go validate',
    what: 'a registry name of 65 bytes',
    method: 'POST',
    path: '/registries',
    body: { name: 'r'.repeat(65), url: 'https://hub.example', type: 'docker-registry' },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'the max length of name is 64',
  },
  {
    upstream: 'lib/endpoint.go ValidateHTTPURL',
    what: 'an ftp:// registry URL',
    method: 'POST',
    path: '/registries',
    body: { name: 'ftp', url: 'ftp://hub.example', type: 'docker-registry' },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'invalid HTTP scheme: ftp',
  },
  {
    upstream: 'the registry.url column, varchar(256): the insert fails and lib/http/error.go hides it',
    what: 'a registry URL longer than 256 characters',
    method: 'POST',
    path: '/registries',
    body: { name: 'long', url: `https://hub.example/${'p'.repeat(250)}`, type: 'docker-registry' },
    status: 500,
    code: 'UNKNOWN',
    message: 'internal server error',
  },
  // ---- replication policies (controller/replication/model/model.go Validate, pkg/reg/model/policy.go) ----
  ...(
    [
      ['a cron hour of 25', { type: 'scheduled', trigger_settings: { cron: '0 0 25 * * *' } }, 'invalid cron string for scheduled trigger: 0 0 25 * * *'],
      ['a five-field cron', { type: 'scheduled', trigger_settings: { cron: '0 3 * * *' } }, 'invalid cron string for scheduled trigger: 0 3 * * *'],
      ['a cron descriptor', { type: 'scheduled', trigger_settings: { cron: '@daily' } }, 'invalid cron string for scheduled trigger: @daily'],
      [
        'a cron whose seconds are not 0',
        { type: 'scheduled', trigger_settings: { cron: '30 0 3 * * *' } },
        'the 1st field (indicating Seconds of time) of the cron setting must be 0',
      ],
      [
        'a cron every minute',
        { type: 'scheduled', trigger_settings: { cron: '0 * 3 * * *' } },
        '* is not allowed for the Minutes field of the cron setting of replication policy',
      ],
      ['a scheduled trigger without cron', { type: 'scheduled' }, 'the cron string cannot be empty when the trigger type is scheduled'],
      ['an unknown trigger type', { type: 'on_push' }, 'invalid trigger type'],
    ] as const
  ).map(([what, trigger, message]): Case => ({
    upstream: 'controller/replication/model/model.go Validate (robfig/cron v3 parser)',
    what,
    method: 'POST',
    path: '/replication/policies',
    body: { name: 'p', dest_registry: { id: 1 }, trigger },
    status: 400,
    code: 'BAD_REQUEST',
    message,
  })),
  ...(
    [
      ['a decoration on a name filter', [{ type: 'name', value: 'library/**', decoration: 'excludes' }], 'only tag and label filter support decoration'],
      ['a resource filter of charts', [{ type: 'resource', value: 'chart' }], 'invalid resource filter: chart'],
      ['an unknown filter type', [{ type: 'repository', value: 'x' }], 'invalid filter type'],
      ['a label filter with a string', [{ type: 'label', value: 'prod' }], "the type of label filter value isn't string slice"],
      ['a tag filter decoration "not"', [{ type: 'tag', value: 'v*', decoration: 'not' }], 'invalid filter decoration, :not'],
    ] as const
  ).map(([what, filters, message]): Case => ({
    upstream: 'pkg/reg/model/policy.go Filter.Validate',
    what,
    method: 'POST',
    path: '/replication/policies',
    body: { name: 'p', dest_registry: { id: 1 }, filters },
    status: 400,
    code: 'BAD_REQUEST',
    message,
  })),
  {
    upstream: 'controller/replication/model/model.go Validate (lib.RepositoryNameRe)',
    what: 'a destination namespace with upper case letters',
    method: 'POST',
    path: '/replication/policies',
    body: { name: 'p', dest_registry: { id: 1 }, dest_namespace: 'Mirror' },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'invalid destination namespace: Mirror',
  },
  {
    upstream: 'controller/replication/model/model.go Validate',
    what: 'a policy with both registries',
    method: 'POST',
    path: '/replication/policies',
    body: { name: 'p', src_registry: { id: 1 }, dest_registry: { id: 1 } },
    status: 400,
    code: 'BAD_REQUEST',
    message: "either src_registry or dest_registry should be empty and the other one shouldn't be empty",
  },
  {
    upstream: 'go-swagger binding of ReplicationPolicy.speed (int32)',
    what: 'a speed above int32',
    method: 'POST',
    path: '/replication/policies',
    body: { name: 'p', dest_registry: { id: 1 }, speed: 3000000000 },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'parsing policy body from "" failed, because json: cannot unmarshal number 3000000000 into Go struct field ReplicationPolicy.speed of type int32',
  },
  {
    upstream: 'the replication_policy.filters column, varchar(1024)',
    what: 'filters longer than 1024 characters as JSON',
    method: 'POST',
    path: '/replication/policies',
    body: { name: 'p', dest_registry: { id: 1 }, filters: [{ type: 'name', value: `library/${'x'.repeat(1000)}` }] },
    status: 500,
    code: 'UNKNOWN',
    message: 'internal server error',
  },
  // ---- robots (handler/robot.go validate, validateName, RefreshSec; controller/robot IsValidSec) ----
  {
    upstream: 'handler/robot.go isValidDuration',
    what: 'a robot that expires after 0 days',
    method: 'POST',
    path: '/robots',
    body: robot({ duration: 0 }),
    status: 400,
    code: 'BAD_REQUEST',
    message: 'bad request error duration input: 0, duration must be either -1(Never) or a positive integer',
  },
  {
    upstream: 'handler/robot.go isValidDuration (RobotCreate.duration is a plain int64: absent is 0)',
    what: 'a robot without duration',
    method: 'POST',
    path: '/robots',
    body: robot({ duration: undefined }),
    status: 400,
    code: 'BAD_REQUEST',
    message: 'bad request error duration input: 0, duration must be either -1(Never) or a positive integer',
  },
  {
    upstream: 'handler/robot.go isValidDuration (d < math.MaxInt32)',
    what: 'a robot duration of MaxInt32 days',
    method: 'POST',
    path: '/robots',
    body: robot({ duration: 2147483647 }),
    status: 400,
    code: 'BAD_REQUEST',
    message: 'bad request error duration input: 2147483647, duration must be either -1(Never) or a positive integer',
  },
  {
    upstream: 'handler/robot.go validate (common/rbac/const.go, the project scope)',
    what: 'an access the project scope does not have',
    method: 'POST',
    path: '/robots',
    body: robot({ permissions: [{ kind: 'project', namespace: 'library', access: [{ resource: 'repository', action: 'pul' }] }] }),
    status: 400,
    code: 'BAD_REQUEST',
    message: 'bad request permission: repository:pul',
  },
  {
    upstream: 'handler/robot.go validate',
    what: 'a permission of an unknown kind',
    method: 'POST',
    path: '/robots',
    body: robot({ permissions: [{ kind: 'team', namespace: 'library', access: [{ resource: 'repository', action: 'pull' }] }] }),
    status: 400,
    code: 'BAD_REQUEST',
    message: 'bad request permission level: team',
  },
  {
    upstream: 'handler/robot.go validateName',
    what: 'a robot name with upper case letters',
    method: 'POST',
    path: '/robots',
    body: robot({ name: 'CI' }),
    status: 400,
    code: 'BAD_REQUEST',
    message: 'robot name is not in lower case or contains illegal characters',
  },
  {
    upstream: 'the robot.description column, varchar(1024)',
    what: 'a robot description of 1025 characters',
    method: 'POST',
    path: '/robots',
    body: robot({ description: 'd'.repeat(1025) }),
    status: 500,
    code: 'UNKNOWN',
    message: 'internal server error',
  },
  ...(
    [
      ['without an upper case letter', 'ci-push-secret-1'],
      ['of 7 characters', 'Ab-12cd'],
      ['of 129 bytes', `Ab1${'x'.repeat(126)}`],
    ] as const
  ).map(([what, secret]): Case => ({
    upstream: 'handler/robot.go RefreshSec, controller/robot IsValidSec',
    what: `a pinned robot secret ${what}`,
    method: 'PATCH',
    path: (e) => `/robots/${e.state.robots[0]!.id}`,
    body: { secret },
    status: 400,
    code: 'BAD_REQUEST',
    message: 'the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number',
  })),
];

describe('Harbor emulator: refuses what Harbor v2.15.2 refuses, with its status, code and message', () => {
  let e: HarborEmulator;
  before(async () => {
    e = await startHarborEmulator({
      admin: ADMIN,
      remoteCheck: async () => true,
      seed: {
        registries: [{ name: 'peer', url: 'https://peer.example', type: 'harbor' }],
        robots: [
          {
            name: 'existing',
            secret: 'Existing-Secret-1',
            permissions: [{ kind: 'project', namespace: 'library', access: [{ resource: 'repository', action: 'pull' }] }],
          },
        ],
      },
    });
  });
  after(async () => e.close());

  for (const c of CASES) {
    it(`${c.what}: ${c.status} ${c.code} (${c.upstream})`, async () => {
      const before = JSON.stringify(e.state);
      const r = await call(e, c.method, typeof c.path === 'string' ? c.path : c.path(e), c.body);
      assert.equal(r.status, c.status, r.text);
      assert.deepEqual(r.json, { errors: [{ code: c.code, message: c.message }] });
      assert.equal(JSON.stringify(e.state), before, 'a refused request changes nothing');
    });
  }

  it('takes what Harbor takes at the edges: -1 and 1024 TB quotas, 8- and 128-byte secrets, named cron fields, distribution namespaces', async () => {
    assert.equal((await call(e, 'POST', '/projects', { project_name: 'edge', storage_limit: 1125899906842624 })).status, 201);
    assert.equal((await call(e, 'POST', '/projects', { project_name: 'edge.default', storage_limit: 0 })).status, 201);
    const quota = e.state.quotas.find((q) => q.project_id === e.state.projects.find((p) => p.name === 'edge.default')!.project_id)!;
    assert.equal(quota.hard['storage'], -1, '0 means the default storage_per_project, -1');
    const id = e.state.robots[0]!.id;
    assert.equal((await call(e, 'PATCH', `/robots/${id}`, { secret: 'Ab-12cde' })).status, 200);
    assert.equal((await call(e, 'PATCH', `/robots/${id}`, { secret: `Ab1${'x'.repeat(125)}` })).status, 200);
    for (const [name, cron, ns] of [
      ['weekdays', '0 0 3 * * MON-FRI', 'registry.example.com:5000/team'],
      ['every-two-hours', '0 0 */2 * * *', 'a__b/c--d'],
      ['january', '0 15 3 1 JAN ?', ''],
    ] as const) {
      const r = await call(e, 'POST', '/replication/policies', {
        name,
        dest_registry: { id: 1 },
        dest_namespace: ns,
        trigger: { type: 'scheduled', trigger_settings: { cron } },
      });
      assert.equal(r.status, 201, `${cron}: ${r.text}`);
    }
  });
});

describe("Harbor emulator with Harbor's API description as its request check", () => {
  let e: HarborEmulator;
  const openapi = HarborOpenApi.fromFile(SWAGGER);
  before(async () => {
    e = await startHarborEmulator({ admin: ADMIN, requestCheck: (req) => openapi.check(req) });
  });
  after(async () => e.close());

  it('answers 422 to a body property the description does not name, a page_size above 100 and an unknown path, and records each', async () => {
    const bad = await call(e, 'POST', '/projects', { project_name: 'base', metadata: { public: 'true' }, replicate: true });
    assert.equal(bad.status, 422);
    assert.equal(bad.json?.errors?.[0]?.code, 'UNPROCESSABLE_ENTITY');
    assert.match(
      bad.json!.errors![0]!.message,
      /^validation failure list:\nPOST \/api\/v2\.0\/projects \(createProject\): body: "replicate" is not a permitted key\.$/,
    );
    assert.equal((await call(e, 'GET', '/projects?page_size=101')).status, 422);
    assert.equal((await call(e, 'GET', '/webhooks')).status, 422);
    assert.deepEqual(
      e.violations.map((v) => `${v.method} ${v.path}`),
      ['POST /api/v2.0/projects', 'GET /api/v2.0/projects', 'GET /api/v2.0/webhooks'],
    );
    assert.equal(
      e.state.projects.some((p) => p.name === 'base'),
      false,
    );
  });

  it("passes a request the description allows to Harbor's handlers", async () => {
    const ok = await call(e, 'POST', '/projects', { project_name: 'base', metadata: { public: 'true' }, storage_limit: 1024 });
    assert.equal(ok.status, 201, ok.text);
  });
});
