// harbor.yml of a core's Harbor: only keys Harbor 2.15's installer template defines (plus the S3 driver's
// keys and external_database.harbor.conn_max_* that FACTS.md lists), l7 vs l4, secrets resolved into the
// file at apply time but never in a plan, a Change or a log, mode 0600, idempotent, and the configured
// commands run once per change in the install directory (and again if they failed).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { desiredHarbor } from '../../src/desired/harbor.js';
import type { Desired } from '../../src/desired/types.js';
import { localExec } from '../../src/host/exec.js';
import { HostFiles } from '../../src/host/files.js';
import { hostSecrets, MASK } from '../../src/host/secrets.js';
import { createLogger } from '../../src/log.js';
import { goDuration } from '../../src/model/go-duration.js';
import { HarborInstance } from '../../src/model/schema.js';
import { diffHarborConfig, harborConfigProvider, PENDING_MARKER } from '../../src/providers/harbor-config/index.js';
import { cfgVersionOf, harborYmlModel, renderHarborYml } from '../../src/providers/harbor-config/render.js';
import type { HostCommands, Provider } from '../../src/providers/types.js';
import { applyHost, pendingChanges, planHost, type HostDeps, type HostPlan } from '../../src/reconcile/engine.js';
import { formatPlanText, planJson } from '../../src/reconcile/format.js';
import { StateStore, type AgentState } from '../../src/reconcile/state.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
/** Harbor v2.15.2's installer template (make/harbor.yml.tmpl), kept as test data. */
const TEMPLATE = join(repoRoot, 'agent/test/fixtures/harbor/harbor-v2.15.2.harbor.yml.tmpl');

/**
 * Key paths that Harbor v2.15.2's harbor.yml.tmpl defines (set, or commented out as an option) among those
 * mirrornet may render. Checked against the template itself (test below).
 */
const TEMPLATE_KEYS = [
  'hostname',
  'http',
  'http.port',
  'https',
  'https.port',
  'https.certificate',
  'https.private_key',
  'external_url',
  'harbor_admin_password',
  'data_volume',
  'storage_service',
  'storage_service.filesystem',
  'storage_service.redirect',
  'storage_service.redirect.disable',
  'jobservice',
  'jobservice.max_job_workers',
  'jobservice.max_job_duration_hours',
  'jobservice.job_loggers',
  'jobservice.logger_sweeper_duration',
  'notification',
  'notification.webhook_job_max_retry',
  'notification.webhook_job_http_client_timeout',
  'log',
  'log.level',
  'log.local',
  'log.local.rotate_count',
  'log.local.rotate_size',
  'log.local.location',
  '_version',
  'external_database',
  'external_database.harbor',
  ...['host', 'port', 'db_name', 'username', 'password', 'ssl_mode', 'max_idle_conns', 'max_open_conns'].map((k) => `external_database.harbor.${k}`),
  'external_redis',
  ...[
    'host',
    'password',
    'username',
    'sentinel_master_set',
    'registry_db_index',
    'jobservice_db_index',
    'trivy_db_index',
    'idle_timeout_seconds',
    'harbor_db_index',
    'cache_layer_db_index',
  ].map((k) => `external_redis.${k}`),
  'cache',
  'cache.enabled',
  'cache.expire_hours',
  'metric',
  'metric.enabled',
  'metric.port',
  'metric.path',
  'upload_purging',
  'upload_purging.enabled',
  'upload_purging.age',
  'upload_purging.interval',
  'upload_purging.dryrun',
];

const S3_KEYS = [
  'accesskey',
  'secretkey',
  'region',
  'regionendpoint',
  'bucket',
  'encrypt',
  'keyid',
  'secure',
  'skipverify',
  'v4auth',
  'chunksize',
  'multipartcopychunksize',
  'multipartcopymaxconcurrency',
  'multipartcopythresholdsize',
  'rootdirectory',
  'storageclass',
];

/** Keys FACTS.md lists that the template does not show (the S3 driver's keys; conn_max_* of the external database). */
const FACTS_ONLY_KEYS = [
  'external_database.harbor.conn_max_lifetime',
  'external_database.harbor.conn_max_idle_time',
  'storage_service.s3',
  ...S3_KEYS.map((k) => `storage_service.s3.${k}`),
];

/** distribution's filesystem driver (the template only shows its maxthreads). */
const DRIVER_KEYS = ['storage_service.filesystem.rootdirectory'];

const ALLOWED = new Set([...TEMPLATE_KEYS, ...FACTS_ONLY_KEYS, ...DRIVER_KEYS]);

/** Object key paths of parsed YAML (list items are values, not keys). */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return [p, ...keyPaths(v, p)];
  });
}

/**
 * Every key path of Harbor's template, set or commented out: each `#` comment level is taken off and a line
 * that then reads `key:` or `key: value` is a key at its indentation; prose comments are skipped.
 */
function templateKeyPaths(text: string): Set<string> {
  const paths = new Set<string>();
  const stack: { indent: number; key: string }[] = [];
  for (const line of text.split('\n')) {
    let l = line;
    for (let m = /^(\s*)# ?(.*)$/.exec(l); m; m = /^(\s*)# ?(.*)$/.exec(l)) l = m[1]! + m[2]!;
    const k = /^(\s*)([A-Za-z_][A-Za-z0-9_]*):(?:\s|$)/.exec(l);
    if (!k) continue;
    const indent = k[1]!.length;
    while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
    stack.push({ indent, key: k[2]! });
    paths.add(stack.map((s) => s.key).join('.'));
  }
  return paths;
}

function loadInstance(file: string): HarborInstance {
  return HarborInstance.parse(parse(readFileSync(join(repoRoot, 'harbor', file), 'utf8')));
}

const desiredOf = (instance: HarborInstance): Desired => ({
  site: instance.hub,
  roles: ['hub'],
  routes: [],
  wireguard: [],
  harbor: desiredHarbor(instance, []),
});

/** Every optional field set, so every model field must show up in harbor.yml. */
function fullInstance(): HarborInstance {
  const base = loadInstance('harbor-cn-beijing.yaml');
  return HarborInstance.parse({
    ...base,
    database: { ...base.database, maxIdleConns: 2, maxOpenConns: 100, connMaxLifetime: '5m', connMaxIdleTime: '7d' },
    redis: {
      host: 'sentinel-1:26379,sentinel-2:26379',
      username: 'harbor',
      password: 'env:REDIS_PW',
      sentinelMasterSet: 'mymaster',
      registryDbIndex: 1,
      jobserviceDbIndex: 2,
      trivyDbIndex: 5,
      harborDbIndex: 6,
      cacheLayerDbIndex: 7,
      idleTimeoutSeconds: 30,
    },
    storage: {
      s3: {
        accesskey: 'env:S3_AK',
        secretkey: 'env:S3_SK',
        region: 'cn-north-4',
        regionendpoint: 'https://obs.internal',
        bucket: 'harbor-b',
        encrypt: true,
        keyid: 'kms-1',
        secure: true,
        skipverify: false,
        v4auth: true,
        chunksize: 5242880,
        multipartcopychunksize: 33554432,
        multipartcopymaxconcurrency: 100,
        multipartcopythresholdsize: 33554432,
        rootdirectory: '/registry',
        storageclass: 'STANDARD',
      },
      redirect: { disable: true },
    },
    metrics: { enabled: true, port: 9091, path: '/m' },
  });
}

describe('harbor-config provider', () => {
  describe('rendered harbor.yml', () => {
    it("has only keys of Harbor 2.15's harbor.yml (template, or FACTS for S3 and conn_max_*), for both example cores", () => {
      for (const file of ['harbor-cn-beijing.yaml', 'harbor-ap-singapore.yaml']) {
        const { config } = harborYmlModel(loadInstance(file));
        const unknown = keyPaths(config).filter((p) => !ALLOWED.has(p));
        assert.deepEqual(unknown, [], `${file}: keys Harbor's template does not define`);
        for (const required of [
          'hostname',
          'harbor_admin_password',
          'data_volume',
          'jobservice.max_job_workers',
          'notification.webhook_job_max_retry',
          'log.level',
          '_version',
        ]) {
          assert.ok(keyPaths(config).includes(required), `${file}: ${required} (prepare fails without it)`);
        }
      }
    });

    it('the key list above is what harbor-v2.15.2.harbor.yml.tmpl defines; FACTS-only keys are not in it', () => {
      const tmpl = templateKeyPaths(readFileSync(TEMPLATE, 'utf8'));
      assert.deepEqual(
        TEMPLATE_KEYS.filter((p) => !tmpl.has(p)),
        [],
        'keys this test believes the template defines',
      );
      // FACTS.md and the template disagree here: FACTS lists conn_max_lifetime/conn_max_idle_time under
      // external_database.harbor, the template's commented external_database block does not (it has them only
      // under the internal `database`). The S3 keys are distribution's, not shown by the template at all.
      assert.deepEqual(
        FACTS_ONLY_KEYS.filter((p) => tmpl.has(p)),
        [],
        'FACTS-only keys the template now shows: move them to TEMPLATE_KEYS',
      );
      assert.ok(tmpl.has('database.conn_max_lifetime') && tmpl.has('database.conn_max_idle_time'));
    });

    it('renders every field the model has: database, Redis, every S3 key, metrics', async () => {
      const inst = fullInstance();
      const { config, secrets } = harborYmlModel(inst);
      assert.deepEqual(
        keyPaths(config).filter((p) => !ALLOWED.has(p)),
        [],
      );
      for (const k of S3_KEYS) assert.ok(keyPaths(config).includes(`storage_service.s3.${k}`), `s3.${k}`);
      const secretPaths = secrets.map((s) => s.path.join('.')).sort();
      assert.deepEqual(secretPaths, [
        'external_database.harbor.password',
        'external_redis.password',
        'harbor_admin_password',
        'storage_service.s3.accesskey',
        'storage_service.s3.secretkey',
      ]);
      const env: Record<string, string> = { HARBOR_ADMIN_PASSWORD: 'admin', HARBOR_DB_PASSWORD: 'db', REDIS_PW: 'redis', S3_AK: 'AK', S3_SK: 'SK' };
      const text = await renderHarborYml(inst, (ref) => hostSecrets({ env }).resolve(ref));
      const y = parse(text) as Record<string, Record<string, unknown>>;
      assert.deepEqual(y['external_database'], {
        harbor: {
          host: '10.120.2.20',
          port: 5432,
          db_name: 'harbor',
          username: 'harbor',
          password: 'db',
          ssl_mode: 'require',
          max_idle_conns: 2,
          max_open_conns: 100,
          conn_max_lifetime: '5m',
          conn_max_idle_time: '168h',
        },
      });
      assert.deepEqual(y['external_redis'], {
        host: 'sentinel-1:26379,sentinel-2:26379',
        password: 'redis',
        username: 'harbor',
        sentinel_master_set: 'mymaster',
        registry_db_index: 1,
        jobservice_db_index: 2,
        trivy_db_index: 5,
        idle_timeout_seconds: 30,
        harbor_db_index: 6,
        cache_layer_db_index: 7,
      });
      const s3 = y['storage_service']!['s3'] as Record<string, unknown>;
      assert.equal(s3['accesskey'], 'AK');
      assert.equal(s3['secretkey'], 'SK');
      assert.equal(s3['chunksize'], 5242880);
      assert.equal(s3['storageclass'], 'STANDARD');
      assert.deepEqual(y['storage_service']!['redirect'], { disable: true });
      assert.deepEqual(y['metric'], { enabled: true, port: 9091, path: '/m' });
      assert.equal(y['harbor_admin_password'], 'admin');
      assert.match(text, /^# Managed by mirrornet/);
    });

    it('keys the model leaves out are left out (Harbor defaults), and S3 disables redirects by default', () => {
      const { config } = harborYmlModel(loadInstance('harbor-ap-singapore.yaml'));
      const c = config as Record<string, Record<string, Record<string, unknown>>>;
      assert.deepEqual(Object.keys(c['external_database']!['harbor']!).sort(), ['db_name', 'host', 'password', 'port', 'ssl_mode', 'username']);
      assert.equal(c['external_redis']!['harbor_db_index'], undefined);
      assert.equal(c['external_redis']!['username'], undefined);
      assert.deepEqual(c['metric'], { enabled: true, port: 9090, path: '/metrics' });
      const noRedirect = loadInstance('harbor-ap-singapore.yaml');
      delete (noRedirect.storage as { redirect?: unknown }).redirect;
      assert.deepEqual((harborYmlModel(noRedirect).config['storage_service'] as Record<string, unknown>)['redirect'], { disable: true });
    });

    it('l7-tls-offload: http behind the load balancer and external_url; l4: https with certificate paths', () => {
      const l7 = loadInstance('harbor-cn-beijing.yaml');
      const c7 = harborYmlModel(l7).config;
      assert.deepEqual(c7['http'], { port: 80 });
      assert.equal(c7['https'], undefined);
      assert.equal(c7['external_url'], 'https://harbor.bj.mirrornet.internal');

      const l4 = HarborInstance.parse({ ...l7, loadBalancer: { mode: 'l4' } });
      const c4 = harborYmlModel(l4).config;
      assert.deepEqual(c4['https'], {
        port: 443,
        certificate: '/data/cert/harbor.bj.mirrornet.internal.crt',
        private_key: '/data/cert/harbor.bj.mirrornet.internal.key',
      });
      assert.deepEqual(c4['http'], { port: 80 }, 'Harbor redirects port 80 to 443 when https is on');
      assert.equal(c4['external_url'], undefined, 'https://<hostname> is what Harbor derives itself');
      const l4Port = HarborInstance.parse({ ...l7, loadBalancer: { mode: 'l4' }, externalUrl: 'https://harbor.bj.mirrornet.internal:8443' });
      assert.equal(harborYmlModel(l4Port).config['external_url'], 'https://harbor.bj.mirrornet.internal:8443');
      // The certificate paths come from the instance when the model has them.
      const withTls = { ...l4, tls: { certificate: '/etc/harbor/tls/c.pem', privateKey: '/etc/harbor/tls/k.pem' } } as HarborInstance;
      assert.deepEqual(harborYmlModel(withTls).config['https'], { port: 443, certificate: '/etc/harbor/tls/c.pem', private_key: '/etc/harbor/tls/k.pem' });
    });

    it('_version is the format version of the release; durations are Go durations', () => {
      assert.equal(cfgVersionOf('v2.15.2'), '2.15.0');
      assert.equal(cfgVersionOf('2.9.1'), '2.9.0');
      assert.equal(goDuration('7d'), '168h');
      assert.equal(goDuration('90s'), '90s');
      assert.equal(harborYmlModel(loadInstance('harbor-cn-beijing.yaml')).config['_version'], '2.15.0');
    });

    it('secrets with YAML-special characters survive the round trip', async () => {
      const inst = loadInstance('harbor-cn-beijing.yaml');
      const tricky = `p@ss: "w'rd" #not-a-comment\n{[*&!|>%@\`]}`;
      const env: Record<string, string> = {
        HARBOR_ADMIN_PASSWORD: '12345',
        HARBOR_DB_PASSWORD: tricky,
        HARBOR_REDIS_PASSWORD: 'null',
        HARBOR_S3_ACCESS_KEY: 'AKIA/x+y=',
        HARBOR_S3_SECRET_KEY: 'p@ss%w0rd!{x}',
      };
      const y = parse(await renderHarborYml(inst, (ref) => hostSecrets({ env }).resolve(ref))) as Record<string, Record<string, Record<string, unknown>>>;
      assert.equal(y['external_database']!['harbor']!['password'], tricky);
      assert.equal((y as unknown as Record<string, unknown>)['harbor_admin_password'], '12345', 'a numeric password stays a string');
      assert.equal(y['external_redis']!['password'], 'null');
      assert.equal(y['storage_service']!['s3']!['accesskey'], 'AKIA/x+y=');
      assert.equal(y['storage_service']!['s3']!['secretkey'], 'p@ss%w0rd!{x}');
    });

    it("refuses an S3 key that prepare's unquoted copy into the registry config would change, without showing it", async () => {
      const inst = loadInstance('harbor-cn-beijing.yaml');
      for (const bad of ['Yes', '  spaced  ', 'abc #def', "'quoted'"]) {
        const env: Record<string, string> = {
          HARBOR_ADMIN_PASSWORD: 'a',
          HARBOR_DB_PASSWORD: 'b',
          HARBOR_REDIS_PASSWORD: 'c',
          HARBOR_S3_ACCESS_KEY: 'AK',
          HARBOR_S3_SECRET_KEY: bad,
        };
        await assert.rejects(
          renderHarborYml(inst, (ref) => hostSecrets({ env }).resolve(ref)),
          (err: Error) => {
            assert.match(
              err.message,
              /^The secret env:HARBOR_S3_SECRET_KEY \(storage_service\.s3\.secretkey\) cannot go into harbor\.yml: Harbor 2\.15's prepare/,
            );
            assert.ok(!err.message.includes(bad.trim()), 'the value is not shown');
            return true;
          },
          JSON.stringify(bad),
        );
      }
    });
  });

  describe('plan and apply in a sandbox', () => {
    const SECRETS = {
      HARBOR_ADMIN_PASSWORD: 'Adm1n-S3cret-zz91',
      HARBOR_DB_PASSWORD: 'db-S3cret: "x" #y-zz92',
      HARBOR_REDIS_PASSWORD: 'redis-S3cret-zz93',
      HARBOR_S3_ACCESS_KEY: 'AKIA-S3cret-zz94',
      HARBOR_S3_SECRET_KEY: 'sk-S3cret-zz95',
    };
    let tmp: string;
    let root: string;
    let runsLog: string;
    let env: Record<string, string>;
    let logs: string[];
    let deps: HostDeps;
    let store: StateStore;
    let state: AgentState;
    let instance: HarborInstance;
    const file = () => join(root, 'opt/harbor/harbor.yml');
    const runs = () => (existsSync(runsLog) ? readFileSync(runsLog, 'utf8').split('\n').filter(Boolean) : []);
    const mode = (p: string) => statSync(p).mode & 0o7777;

    function makeDeps(harborApply: string): HostDeps {
      const commands: HostCommands = { dockerReload: 'true', dragonflyRestart: 'true', harborApply };
      return {
        providers: [harborConfigProvider as Provider<unknown>],
        exec: localExec(),
        files: new HostFiles(root),
        secrets: hostSecrets({ env, root }),
        log: createLogger({ level: 'debug', destination: { write: (s: string) => void logs.push(s) } }),
        commands,
      };
    }

    async function plan(): Promise<HostPlan> {
      return planHost(desiredOf(instance), 'test', deps, state);
    }

    async function apply(): Promise<{ plan: HostPlan; error?: Error }> {
      const p = await plan();
      const r = await applyHost(p, desiredOf(instance), deps, store, state);
      return { plan: p, ...(r.error ? { error: r.error.error } : {}) };
    }

    /** Everything a person or a tool could see: plan text, plan JSON, the changes themselves, the logs. */
    function assertNoSecrets(p: HostPlan): void {
      const seen = [
        formatPlanText(p, { verbose: true }),
        JSON.stringify(planJson(p)),
        JSON.stringify(p.changes),
        JSON.stringify([...p.actual.values()]),
        p.notes.join('\n'),
        logs.join(''),
      ].join('\n');
      for (const [name, value] of Object.entries(env)) {
        for (const form of [value, JSON.stringify(value).slice(1, -1)])
          assert.ok(!seen.includes(form), `the value of ${name} leaked into a plan, a change or a log`);
      }
    }

    beforeEach(async () => {
      tmp = mkdtempSync(join(tmpdir(), 'mn-harbor-'));
      root = join(tmp, 'root');
      runsLog = join(tmp, 'runs.log');
      env = { ...SECRETS };
      logs = [];
      instance = loadInstance('harbor-cn-beijing.yaml');
      deps = makeDeps(`pwd >> '${runsLog}'`);
      store = new StateStore(join(tmp, 'state'));
      state = await store.load();
    });
    afterEach(() => rmSync(tmp, { recursive: true, force: true }));

    it('creates harbor.yml (0600, secrets resolved), runs the commands once in the install directory; the second plan is a noop', async () => {
      const p1 = await plan();
      assert.deepEqual(
        pendingChanges(p1).map((c) => [c.action, c.id]),
        [['create', '/opt/harbor/harbor.yml']],
      );
      const after = p1.changes[0]!.after as Record<string, unknown>;
      assert.equal(after['harbor_admin_password'], MASK);
      assertNoSecrets(p1);

      const r = await apply();
      assert.equal(r.error, undefined, String(r.error));
      assert.equal(mode(file()), 0o600);
      const y = parse(readFileSync(file(), 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;
      assert.equal(y['external_database']!['harbor']!['password'], SECRETS.HARBOR_DB_PASSWORD);
      assert.equal(y['storage_service']!['s3']!['secretkey'], SECRETS.HARBOR_S3_SECRET_KEY);
      assert.equal((y as unknown as Record<string, unknown>)['harbor_admin_password'], SECRETS.HARBOR_ADMIN_PASSWORD);
      assert.deepEqual(runs(), [join(root, 'opt/harbor')], 'the commands ran once, with the install directory as working directory');
      assert.ok(!existsSync(join(root, 'opt/harbor', PENDING_MARKER)));
      assert.deepEqual(state.inventory['harbor-config'], ['/opt/harbor/harbor.yml']);
      assertNoSecrets(r.plan);

      const p2 = await plan();
      assert.deepEqual(pendingChanges(p2), [], formatPlanText(p2));
      assert.match(formatPlanText(p2), /No changes/);
      await apply();
      assert.equal(runs().length, 1, 'no change: the commands do not run');
      assertNoSecrets(p2);
    });

    it('a changed instance updates harbor.yml and runs the commands once more; the mode stays 0600', async () => {
      await apply();
      instance = HarborInstance.parse({ ...instance, metrics: { enabled: true, port: 9191, path: '/metrics' } });
      const p = await plan();
      const [c] = pendingChanges(p);
      assert.equal(c?.action, 'update');
      assert.match(c!.reason, /metric\.port/);
      assert.equal((c!.before as Record<string, Record<string, unknown>>)['metric']!['port'], 9090);
      assert.equal((c!.after as Record<string, Record<string, unknown>>)['metric']!['port'], 9191);
      assertNoSecrets(p);
      const r = await apply();
      assert.equal(r.error, undefined, String(r.error));
      assert.equal(runs().length, 2);
      assert.equal(mode(file()), 0o600);
      assert.equal(mode(`${file()}.mirrornet.bak`), 0o600, 'the backup holds the old secrets: 0600 too');
      assert.equal((parse(readFileSync(file(), 'utf8')) as Record<string, Record<string, unknown>>)['metric']!['port'], 9191);
      assert.deepEqual(pendingChanges(await plan()), []);
    });

    it('a rotated secret is found by plan without showing it, and applied', async () => {
      await apply();
      env['HARBOR_DB_PASSWORD'] = 'rotated-S3cret-zz96';
      const p = await plan();
      const [c] = pendingChanges(p);
      assert.equal(c?.action, 'update');
      assert.match(c!.reason, /env:HARBOR_DB_PASSWORD differs from external_database\.harbor\.password/);
      assertNoSecrets(p);
      assert.ok(!JSON.stringify(p.changes).includes(SECRETS.HARBOR_DB_PASSWORD), 'nor the old value from the file');
      await apply();
      assert.equal(
        (parse(readFileSync(file(), 'utf8')) as Record<string, Record<string, Record<string, unknown>>>)['external_database']!['harbor']!['password'],
        'rotated-S3cret-zz96',
      );
      assert.equal(runs().length, 2);
      assert.deepEqual(pendingChanges(await plan()), []);
    });

    it('comments are not drift; a hand edit is, with masked values; a loosened mode is fixed without rerunning the commands', async () => {
      await apply();
      writeFileSync(file(), `${readFileSync(file(), 'utf8')}# checked by ops\n`);
      assert.deepEqual(pendingChanges(await plan()), []);

      writeFileSync(file(), `${readFileSync(file(), 'utf8')}trivy:\n  github_token: ghp-S3cret-zz97\n`);
      let p = await plan();
      let [c] = pendingChanges(p);
      assert.equal(c?.action, 'update');
      assert.match(c!.reason, /trivy/);
      assert.ok(!JSON.stringify(p.changes).includes('ghp-S3cret-zz97'), 'a secret-looking key added by hand is masked too');
      assert.ok(!formatPlanText(p, { verbose: true }).includes('ghp-S3cret-zz97'));
      await apply();
      assert.equal(runs().length, 2);
      assert.ok(!readFileSync(file(), 'utf8').includes('github_token'));

      chmodSync(file(), 0o644);
      p = await plan();
      [c] = pendingChanges(p);
      assert.equal(c?.action, 'update');
      assert.match(c!.reason, /mode 0644.*0600/);
      await apply();
      assert.equal(mode(file()), 0o600);
      assert.equal(runs().length, 2, 'only the mode changed: Harbor does not need to be regenerated');
      assert.deepEqual(pendingChanges(await plan()), []);
    });

    it('failed commands are run again by the next apply (harbor.yml is already current)', async () => {
      deps = makeDeps(`echo failed >> '${runsLog}'; exit 3`);
      const r1 = await apply();
      assert.ok(r1.error, 'the apply reports the failure');
      assert.match(r1.error!.message, /exit 3/);
      assert.ok(existsSync(file()));
      assert.ok(existsSync(join(root, 'opt/harbor', PENDING_MARKER)));
      deps = makeDeps(`pwd >> '${runsLog}'`);
      const p = await plan();
      const [c] = pendingChanges(p);
      assert.equal(c?.action, 'update');
      assert.match(c!.reason, /did not finish/);
      await apply();
      assert.deepEqual(runs(), ['failed', join(root, 'opt/harbor')]);
      assert.ok(!existsSync(join(root, 'opt/harbor', PENDING_MARKER)));
      assert.ok(!existsSync(join(root, 'opt/harbor', `${PENDING_MARKER}.mirrornet.bak`)), 'no litter');
      assert.deepEqual(pendingChanges(await plan()), []);
    });

    it('an unresolvable secret: plan notes it (no value, no crash); apply writes nothing and fails', async () => {
      delete env['HARBOR_S3_SECRET_KEY'];
      const p = await plan();
      assert.deepEqual(
        pendingChanges(p).map((c) => c.action),
        ['create'],
      );
      const r = await apply();
      assert.ok(r.error);
      assert.match(r.error!.message, /HARBOR_S3_SECRET_KEY/);
      assert.ok(!existsSync(file()), 'nothing written with a missing secret');
      assert.equal(runs().length, 0);
      env['HARBOR_S3_SECRET_KEY'] = SECRETS.HARBOR_S3_SECRET_KEY;
      await apply();
      delete env['HARBOR_S3_SECRET_KEY'];
      const p2 = await plan();
      assert.ok(
        p2.notes.some((n) => n.includes('env:HARBOR_S3_SECRET_KEY') && n.includes('storage_service.s3.secretkey')),
        p2.notes.join('\n'),
      );
      assert.deepEqual(pendingChanges(p2), []);
      assertNoSecrets(p2);
    });

    it('diff is pure and never deletes a harbor.yml of a running Harbor', () => {
      const none: Desired = { site: 'x', roles: ['hub'], routes: [], wireguard: [] };
      assert.deepEqual(diffHarborConfig(none, { exists: true, secrets: {}, pending: false }), []);
      assert.equal(harborConfigProvider.wants(none), false);
      assert.equal(harborConfigProvider.wants(desiredOf(instance)), true);
    });
  });
});
