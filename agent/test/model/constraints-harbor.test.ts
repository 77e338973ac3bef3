// The constraint inventory of harbor.yml (harbor-prepare) and of its storage_service.s3 block (distribution-s3):
// every key path the harbor-config renderer can emit has an entry and every entry is a key the renderer emits;
// the template's top-level keys the renderer leaves out are listed with prepare's and the template's defaults;
// and every entry whose constraint a repository value can break has a failing fixture here, a one-line edit
// of fleet-small that makes the entry's rule fire at the edited line.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DISTRIBUTION_S3 } from '../../src/model/constraints/distribution-s3.js';
import { HARBOR_PREPARE } from '../../src/model/constraints/harbor-prepare.js';
import type { Constraint, Consumer, Upstream } from '../../src/model/constraints/types.js';
import { HARBOR_UPLOAD_PURGING, verbatimYamlProblem } from '../../src/model/constraints/harbor-prepare-values.js';
import { MODEL_DIRECTORIES, type VirtualFile } from '../../src/model/loader.js';
import { HarborInstance } from '../../src/model/schema.js';
import type { Severity } from '../../src/model/finding.js';
import { validateFiles } from '../../src/policy/validate.js';
import { harborYmlModel } from '../../src/providers/harbor-config/render.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const FIXTURE = join(repoRoot, 'agent/test/fixtures/fleet-small');
const TEMPLATE = join(repoRoot, 'agent/test/fixtures/harbor/harbor-v2.15.2.harbor.yml.tmpl');
const S3 = 'storage_service.s3.';

const ours = [...HARBOR_PREPARE, ...DISTRIBUTION_S3];

const constraintOf = (consumer: Consumer, key: string): Constraint | undefined => ours.find((c) => c.consumer === consumer && c.key === key);

/**
 * The template's top-level keys harbor.yml leaves out, because prepare's default without the key is what the
 * template documents (where they differ the renderer writes the key: upload_purging).
 */
const OMITTED: readonly { key: string; prepare: string; template: string }[] = [
  { key: 'ip_family', prepare: 'ipv4 enabled, ipv6 disabled', template: 'commented out: ipv4 only' },
  { key: 'internal_tls', prepare: 'disabled', template: 'commented out: disabled' },
  { key: 'database', prepare: 'ignored when external_database is set', template: 'the bundled PostgreSQL (mirrornet uses external_database)' },
  { key: 'redis', prepare: 'external_redis is used when this block is absent', template: 'commented out' },
  { key: 'trivy', prepare: 'the template values (skip_update false, timeout 5m0s, ...)', template: 'the same values' },
  { key: 'uaa', prepare: 'no UAA certificate', template: 'commented out' },
  { key: 'proxy', prepare: 'no proxy for any component', template: 'empty http_proxy and https_proxy: no proxy' },
  { key: 'trace', prepare: 'disabled', template: 'commented out' },
  { key: 'core', prepare: 'quota_update_provider db', template: 'commented out; db by default' },
];

/** The inventory entry of a harbor.yml key path: the S3 keys are the driver's (storage.s3.<key> in the registry's config.yml). */
function entryOf(path: string): Constraint | undefined {
  return path.startsWith(S3) ? constraintOf('distribution-s3', `storage.s3.${path.slice(S3.length)}`) : constraintOf('harbor-prepare', path);
}

/** Every object key path of parsed YAML, parents included (list items are values). */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return [p, ...keyPaths(v, p)];
  });
}

const exampleInstances = (): HarborInstance[] =>
  readdirSync(join(repoRoot, 'harbor'))
    .sort()
    .map((f) => HarborInstance.parse(parse(readFileSync(join(repoRoot, 'harbor', f), 'utf8'))));

/** Every optional field set: l4 with its own certificate, pool sizes and durations, Sentinel Redis, every S3 key, metrics. */
function everyOptionalField(): HarborInstance {
  const base = exampleInstances().find((h) => h.name === 'harbor-cn-beijing')!;
  return HarborInstance.parse({
    ...base,
    loadBalancer: { mode: 'l4' },
    externalUrl: 'https://harbor.bj.mirrornet.internal:8443',
    dataVolume: '/data/harbor',
    tls: { certificate: '/etc/harbor/tls/c.pem', privateKey: '/etc/harbor/tls/k.pem' },
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
        ...base.storage.s3!,
        encrypt: true,
        keyid: 'kms-1',
        secure: true,
        skipverify: false,
        v4auth: true,
        multipartcopychunksize: 33554432,
        multipartcopymaxconcurrency: 100,
        multipartcopythresholdsize: 33554432,
        storageclass: 'STANDARD',
      },
      redirect: { disable: true },
    },
    metrics: { enabled: true, port: 9090, path: '/metrics' },
  });
}

/** Filesystem storage (the other backend), everything else as the Singapore example. */
function onFilesystem(): HarborInstance {
  const base = exampleInstances().find((h) => h.name === 'harbor-ap-singapore')!;
  return HarborInstance.parse({ ...base, storage: { filesystem: { rootdirectory: '/storage' }, redirect: { disable: false } } });
}

describe('the constraint inventory of harbor.yml and S3 (Harbor 2.15 prepare, distribution v2.8.3)', () => {
  describe('covers what the renderer writes', () => {
    const rendered = [...exampleInstances(), everyOptionalField(), onFilesystem()].map((h) => [h.name, keyPaths(harborYmlModel(h).config)] as const);

    it('has an entry for every key path harbor.yml gets, for the example fleet and for a Harbor with every optional field', () => {
      for (const [name, paths] of rendered) {
        assert.ok(paths.length > 40, `${name}: rendered ${paths.length} key paths`);
        assert.deepEqual(
          paths.filter((p) => !entryOf(p)),
          [],
          `${name}: key paths without an inventory entry`,
        );
      }
    });

    it('has no entry for a key the renderer never writes', () => {
      const emitted = new Set(rendered.flatMap(([, paths]) => paths).map((p) => (p.startsWith(S3) ? `storage.s3.${p.slice(S3.length)}` : p)));
      assert.deepEqual(
        ours.filter((c) => !emitted.has(c.key)).map((c) => `${c.consumer} ${c.key}`),
        [],
      );
    });

    it('writes upload_purging as the template has it, because prepare turns purging off without the block', () => {
      for (const h of exampleInstances()) {
        assert.deepEqual(harborYmlModel(h).config['upload_purging'], { enabled: true, age: '168h', interval: '24h', dryrun: false });
      }
      assert.deepEqual(HARBOR_UPLOAD_PURGING, { enabled: true, age: '168h', interval: '24h', dryrun: false });
      assert.match(constraintOf('harbor-prepare', 'upload_purging')!.default!, /purging is off/);
    });

    it("lists each top-level key of the template that harbor.yml leaves out, where prepare's default is the template's", () => {
      const template = readFileSync(TEMPLATE, 'utf8');
      const top = new Set([...template.matchAll(/^(?:# ?)?([a-z_]+):(?:\s|$)/gm)].map((m) => m[1]!));
      const written = new Set(rendered.flatMap(([, paths]) => paths).filter((p) => !p.includes('.')));
      const omitted = OMITTED.map((o) => o.key);
      assert.deepEqual(
        [...top].filter((k) => !written.has(k) && !omitted.includes(k)),
        [],
        'template keys neither written nor listed as omitted',
      );
      assert.deepEqual(
        omitted.filter((k) => written.has(k) || !top.has(k)),
        [],
        'keys listed as omitted that are written, or not in the template',
      );
    });

    it('names, for every entry, the upstream file and the tag it was read at', () => {
      for (const c of ours) {
        const files: readonly Upstream[] = c.upstream;
        assert.ok(files.length > 0, `${c.key}: no upstream file`);
        for (const u of files) assert.match(`${u.repo} ${u.path} ${u.ref}`, /^[\w.-]+\/[\w.-]+ \S+ (v|go)\d/, `${c.key}: ${JSON.stringify(u)}`);
      }
      assert.equal(new Set(ours.map((c) => `${c.consumer} ${c.key}`)).size, ours.length, 'one entry per key');
    });
  });

  describe("prepare's verbatim copy into the registry's config.yml", () => {
    it('keeps plain values and says what YAML reads instead of the others', () => {
      assert.equal(verbatimYamlProblem('/registry'), undefined);
      assert.equal(verbatimYamlProblem('https://s3.bj.internal:9000'), undefined);
      assert.equal(verbatimYamlProblem(true), undefined);
      assert.equal(verbatimYamlProblem(false), undefined);
      assert.equal(verbatimYamlProblem(33554432), undefined);
      assert.equal(verbatimYamlProblem('/registry #old'), 'the string "/registry"');
      assert.equal(verbatimYamlProblem('yes'), 'the boolean true');
      assert.equal(verbatimYamlProblem('0123'), 'the number 83');
      assert.equal(verbatimYamlProblem(1), 'the boolean true');
      assert.equal(verbatimYamlProblem('a: b'), 'a YAML syntax error');
      assert.equal(verbatimYamlProblem('~'), 'an empty value');
    });
  });

  describe('a failing fixture for every entry a repository value can break', () => {
    const BJ = 'harbor/harbor-cn-beijing.yaml';
    const SG = 'harbor/harbor-ap-singapore.yaml';
    interface Case {
      consumer: 'harbor-prepare' | 'distribution-s3';
      key: string;
      file: string;
      from: string;
      to: string;
      /** The finding is on the first line of the edited file that holds this. */
      at: string;
      severity?: Severity;
      says: string;
    }
    const hp = (key: string, c: Omit<Case, 'consumer' | 'key'>): Case => ({ consumer: 'harbor-prepare', key, ...c });
    const s3 = (key: string, c: Omit<Case, 'consumer' | 'key'>): Case => ({ consumer: 'distribution-s3', key: `storage.s3.${key}`, ...c });
    const S3_TAIL = '    chunksize: 33554432\n';
    const addS3 = (line: string) => ({ file: BJ, from: S3_TAIL, to: `${S3_TAIL}    ${line}\n`, at: line });
    const addDb = (line: string) => ({ file: BJ, from: '  sslMode: require\n', to: `  sslMode: require\n  ${line}\n`, at: line });
    const TLS = (cert: string, key: string) => `tls:\n  certificate: ${cert}\n  privateKey: ${key}\nadminPassword:`;
    const METRICS = (extra: string) => `metrics:\n  enabled: true\n${extra}projects:\n`;

    const CASES: Case[] = [
      hp('hostname', {
        file: SG,
        from: 'hostname: harbor.sg.small.internal',
        to: 'hostname: reg.mydomain.com',
        at: 'hostname: reg',
        says: 'Please specify hostname',
      }),
      hp('https.certificate', {
        file: SG,
        from: 'adminPassword:',
        to: TLS('/your/certificate/path', '/etc/harbor/tls/k.pem'),
        at: 'certificate: /your',
        says: 'placeholder',
      }),
      hp('https.private_key', {
        file: SG,
        from: 'adminPassword:',
        to: TLS('/etc/harbor/tls/c.pem', '/data/secret/cert/server.key'),
        at: 'privateKey: /data/secret',
        says: 'deletes /data/secret/cert',
      }),
      hp('external_url', {
        file: BJ,
        from: 'externalUrl: https://harbor.bj.small.internal',
        to: 'externalUrl: https://harbor.bj.small.internal/harbor',
        at: 'externalUrl',
        says: '/harbor',
      }),
      hp('data_volume', { file: SG, from: 'adminPassword:', to: 'dataVolume: /data/harbor data\nadminPassword:', at: 'dataVolume', says: "awk '{print $NF}'" }),
      hp('storage_service.s3', {
        ...addS3("keyid: 'kms #1'"),
        to: `${S3_TAIL}    encrypt: true\n    keyid: 'kms #1'\n`,
        says: 'reads back as the string "kms"',
      }),
      hp('storage_service.filesystem.rootdirectory', {
        file: SG,
        from: 'rootdirectory: /storage',
        to: 'rootdirectory: /data/registry',
        at: 'rootdirectory',
        says: 'mounts <dataVolume>/registry',
      }),
      hp('storage_service.redirect.disable', {
        file: BJ,
        from: '    disable: true\n',
        to: '    disable: false\n',
        at: '  s3:',
        severity: 'warning',
        says: 'redirect',
      }),
      hp('external_database.harbor.max_idle_conns', { ...addDb('maxIdleConns: 0'), says: 'writes 2' }),
      hp('external_database.harbor.max_open_conns', { ...addDb('maxOpenConns: 3000000000'), says: '2147483647' }),
      hp('external_database.harbor.conn_max_lifetime', { ...addDb('connMaxLifetime: 3000000h'), says: 'time.ParseDuration' }),
      hp('external_database.harbor.conn_max_idle_time', { ...addDb('connMaxIdleTime: 200000d'), says: 'uses 0' }),
      hp('external_redis.host', {
        file: SG,
        from: 'host: 10.128.2.30:6379',
        to: 'host: 10.128.2.30:26379,10.128.2.31:26379',
        at: 'host: 10.128.2.30',
        says: 'sentinelMasterSet',
      }),
      hp('external_redis.username', {
        file: SG,
        from: '  registryDbIndex: 1\n',
        to: '  username: harbor-redis\n  registryDbIndex: 1\n',
        at: 'username: harbor-redis',
        says: 'password',
      }),
      hp('external_redis.sentinel_master_set', {
        file: BJ,
        from: '  trivyDbIndex: 5\n',
        to: '  trivyDbIndex: 5\n  sentinelMasterSet: my/master\n',
        at: 'sentinelMasterSet',
        says: 'splits',
      }),
      hp('external_redis.idle_timeout_seconds', {
        file: BJ,
        from: '  trivyDbIndex: 5\n',
        to: '  trivyDbIndex: 5\n  idleTimeoutSeconds: 0\n',
        at: 'idleTimeoutSeconds',
        says: '30',
      }),
      hp('external_redis.registry_db_index', { file: SG, from: 'registryDbIndex: 1', to: 'registryDbIndex: 5', at: 'registryDbIndex', says: 'trivyDbIndex' }),
      hp('external_redis.jobservice_db_index', {
        file: SG,
        from: 'jobserviceDbIndex: 2',
        to: 'jobserviceDbIndex: 1',
        at: 'jobserviceDbIndex',
        says: 'registryDbIndex',
      }),
      hp('external_redis.trivy_db_index', { file: BJ, from: 'trivyDbIndex: 5', to: 'trivyDbIndex: 2', at: 'trivyDbIndex', says: 'jobserviceDbIndex' }),
      hp('external_redis.harbor_db_index', {
        file: SG,
        from: '  jobserviceDbIndex: 2\n',
        to: '  jobserviceDbIndex: 2\n  harborDbIndex: 5\n',
        at: 'harborDbIndex',
        says: 'trivyDbIndex',
      }),
      hp('external_redis.cache_layer_db_index', {
        file: BJ,
        from: '  trivyDbIndex: 5\n',
        to: '  trivyDbIndex: 5\n  cacheLayerDbIndex: 1\n',
        at: 'cacheLayerDbIndex',
        says: 'registryDbIndex',
      }),
      hp('metric.port', { file: BJ, from: 'projects:\n', to: METRICS('  port: 5000\n'), at: 'port: 5000', says: 'registry listens on 5000' }),
      hp('metric.path', { file: BJ, from: 'projects:\n', to: METRICS('  path: /harbor-metrics\n'), at: 'path: /harbor', severity: 'warning', says: '404' }),
      s3('region', { file: BJ, from: '    regionendpoint: https://s3.bj.small.internal\n', to: '', at: 'region: cn-north-4', says: 'invalid region provided' }),
      s3('regionendpoint', {
        file: BJ,
        from: 'regionendpoint: https://',
        to: 'regionendpoint: http://',
        at: 'regionendpoint',
        severity: 'warning',
        says: 'unencrypted',
      }),
      s3('keyid', { ...addS3('keyid: kms-key-1'), says: 'encrypt: true' }),
      s3('secure', { ...addS3('secure: false'), severity: 'warning', says: 'no effect' }),
      s3('v4auth', {
        file: BJ,
        from: 'regionendpoint: https://s3.bj.small.internal',
        to: 'regionendpoint: https://s3.amazonaws.com\n    v4auth: false',
        at: 'v4auth',
        says: 'v4 authentication',
      }),
      s3('storageclass', { ...addS3('storageclass: STANDARD_IA'), says: 'REDUCED_REDUNDANCY' }),
      s3('chunksize', { file: BJ, from: 'chunksize: 33554432', to: 'chunksize: 5368709121', at: 'chunksize', says: '5242880 .. 5368709120' }),
      s3('multipartcopychunksize', { ...addS3('multipartcopychunksize: 1048576'), says: 'refuses to start' }),
      s3('multipartcopymaxconcurrency', { ...addS3('multipartcopymaxconcurrency: 1'), says: 'invalid value for multipartcopymaxconcurrency: true' }),
      s3('multipartcopythresholdsize', { ...addS3('multipartcopythresholdsize: 1'), says: '1 == True' }),
      s3('rootdirectory', { ...addS3("rootdirectory: '/registry #old'"), says: 'reads back as the string "/registry"' }),
    ];

    const BASE = new Map<string, string>(
      MODEL_DIRECTORIES.flatMap((dir) => readdirSync(join(FIXTURE, dir)).map((f) => [`${dir}/${f}`, readFileSync(join(FIXTURE, dir, f), 'utf8')] as const)),
    );

    it('has a case for each entry that names a rule, and each case is such an entry with that rule', () => {
      const breakable = ours.filter((c) => c.rule !== undefined).map((c) => `${c.consumer} ${c.key}`);
      const cased = CASES.map((c) => `${c.consumer} ${c.key}`);
      assert.deepEqual(
        breakable.filter((k) => !cased.includes(k)),
        [],
        'entries with a rule but no failing fixture',
      );
      assert.deepEqual(
        cased.filter((k) => !breakable.includes(k)),
        [],
        'cases for entries without a rule',
      );
    });

    for (const c of CASES) {
      const entry = constraintOf(c.consumer, c.key);
      it(`${c.key}: ${entry?.rule ?? '(no rule)'} fires at the edited line of ${c.file}`, () => {
        assert.ok(entry?.rule, `${c.consumer} ${c.key} has no rule`);
        const text = BASE.get(c.file)!;
        assert.equal(text.split(c.from).length, 2, `test bug: ${JSON.stringify(c.from)} is not in ${c.file} exactly once`);
        const edited = text.replace(c.from, c.to);
        const files: VirtualFile[] = [...BASE].map(([path, content]) => ({ path, content: path === c.file ? edited : content }));
        const report = validateFiles(files);
        const findings = [...report.errors, ...report.warnings];
        const line = edited.split('\n').findIndex((l) => l.includes(c.at)) + 1;
        assert.ok(line > 0, `test bug: ${JSON.stringify(c.at)} is not in the edited file`);
        const hit = findings.filter((f) => f.rule === entry.rule && f.file === c.file && f.line === line && f.severity === (c.severity ?? 'error'));
        const shown = findings.map((f) => `${f.file}:${f.line} ${f.severity} ${f.rule}: ${f.message}`).join('\n');
        assert.ok(hit.length > 0, `expected ${entry.rule} at ${c.file}:${line}; got:\n${shown}`);
        assert.ok(
          hit.some((f) => f.message.includes(c.says)),
          `expected the message to say ${JSON.stringify(c.says)}; got:\n${shown}`,
        );
      });
    }
  });
});
