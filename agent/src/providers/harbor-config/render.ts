// harbor.yml for Harbor 2.15's installer (`./prepare` + `docker compose up -d`), rendered from a
// HarborInstance. Only keys Harbor's harbor.yml.tmpl (v2.15.2) defines, plus the S3 driver's keys and
// external_database.harbor.conn_max_* that FACTS.md lists; every key it can write has an entry in the
// constraint inventory (model/constraints/harbor-prepare.ts, distribution-s3.ts). Secrets are slots: the pure
// model carries a mask and the secret reference; the text with the real values is only produced by
// renderHarborYml at apply time.
import { stringify } from 'yaml';
import { MASK } from '../../host/secrets.js';
import { MirrornetError } from '../../errors.js';
import { HARBOR_UPLOAD_PURGING, verbatimYamlProblem } from '../../model/constraints/harbor-prepare-values.js';
import { goDuration } from '../../model/go-duration.js';
import type { HarborInstance } from '../../model/schema.js';

export const HARBOR_YML = 'harbor.yml';
const DEFAULT_DATA_VOLUME = '/data';

/** A value in harbor.yml that comes from a secret reference. */
interface SecretSlot {
  /** Key path in harbor.yml, e.g. ['external_database', 'harbor', 'password']. */
  path: readonly string[];
  ref: string;
}

export interface HarborYmlModel {
  /** harbor.yml as data, every secret value replaced by MASK. Safe to show. */
  config: Record<string, unknown>;
  secrets: SecretSlot[];
}

/**
 * Key names whose values are never shown, wherever they appear in a harbor.yml (also in keys mirrornet does
 * not render, e.g. a hand-added trivy.github_token or storage_service.azure.accountkey).
 */
const SECRET_KEY_PATTERN = /(password|secret|token|accesskey|accountkey|credential)/i;

/** TLS files for nginx when Harbor terminates TLS itself (load balancer mode l4). */
interface HarborTls {
  certificate: string;
  privateKey: string;
}

/** Fields the renderer reads when the model grows them (see the report of this provider). */
interface FutureFields {
  tls?: HarborTls;
  dataVolume?: string;
}

function dataVolumeOf(instance: HarborInstance): string {
  return (instance as HarborInstance & FutureFields).dataVolume ?? DEFAULT_DATA_VOLUME;
}

/** The nginx certificate and key for l4: from the instance when it has them, else under the data volume. */
function tlsOf(instance: HarborInstance): HarborTls {
  const tls = (instance as HarborInstance & FutureFields).tls;
  if (tls) return tls;
  const dir = `${dataVolumeOf(instance).replace(/\/+$/, '')}/cert`;
  return { certificate: `${dir}/${instance.hostname}.crt`, privateKey: `${dir}/${instance.hostname}.key` };
}

/** The migrator's format version of harbor.yml for a Harbor version: v2.15.2 -> 2.15.0. */
export function cfgVersionOf(version: string): string {
  const m = /^v?(\d+)\.(\d+)\./.exec(version);
  if (!m) throw new Error(`not a Harbor version: ${version}`);
  return `${m[1]}.${m[2]}.0`;
}

/** Where the instance's harbor.yml lives on the host. */
export function harborYmlPath(instance: HarborInstance): string {
  return `${instance.installDir.replace(/\/+$/, '')}/${HARBOR_YML}`;
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Pure: harbor.yml as data with masked secrets, and the secret slots to fill in at apply time. */
export function harborYmlModel(instance: HarborInstance): HarborYmlModel {
  const secrets: SecretSlot[] = [];
  const secret = (ref: string, ...path: string[]): string => {
    secrets.push({ path, ref });
    return MASK;
  };
  const config: Record<string, unknown> = { hostname: instance.hostname };

  if (instance.loadBalancer.mode === 'l7-tls-offload') {
    // The load balancer terminates TLS and talks HTTP to Harbor; Harbor must still build https:// URLs.
    config['http'] = { port: 80 };
    config['external_url'] = instance.externalUrl;
  } else {
    // TCP passthrough: Harbor's nginx terminates TLS with its own certificate.
    const tls = tlsOf(instance);
    config['http'] = { port: 80 };
    config['https'] = { port: 443, certificate: tls.certificate, private_key: tls.privateKey };
    const url = new URL(instance.externalUrl);
    const plain =
      url.protocol === 'https:' &&
      url.hostname === instance.hostname &&
      (url.port === '' || url.port === '443') &&
      (url.pathname === '/' || url.pathname === '');
    if (!plain) config['external_url'] = instance.externalUrl;
  }

  config['harbor_admin_password'] = secret(instance.adminPassword, 'harbor_admin_password');
  config['data_volume'] = dataVolumeOf(instance);

  const storage: Record<string, unknown> = {};
  const s3 = instance.storage.s3;
  if (s3) {
    storage['s3'] = defined({
      accesskey: secret(s3.accesskey, 'storage_service', 's3', 'accesskey'),
      secretkey: secret(s3.secretkey, 'storage_service', 's3', 'secretkey'),
      region: s3.region,
      regionendpoint: s3.regionendpoint,
      bucket: s3.bucket,
      encrypt: s3.encrypt,
      keyid: s3.keyid,
      secure: s3.secure,
      skipverify: s3.skipverify,
      v4auth: s3.v4auth,
      chunksize: s3.chunksize,
      multipartcopychunksize: s3.multipartcopychunksize,
      multipartcopymaxconcurrency: s3.multipartcopymaxconcurrency,
      multipartcopythresholdsize: s3.multipartcopythresholdsize,
      rootdirectory: s3.rootdirectory,
      storageclass: s3.storageclass,
    });
  } else if (instance.storage.filesystem) {
    storage['filesystem'] = { rootdirectory: instance.storage.filesystem.rootdirectory };
  }
  // With an object store, clients must not be redirected to it (all image traffic stays on the private
  // network through Harbor): disable redirects unless the instance says otherwise.
  const redirectDisable = instance.storage.redirect?.disable ?? (s3 ? true : undefined);
  if (redirectDisable !== undefined) storage['redirect'] = { disable: redirectDisable };
  if (Object.keys(storage).length) config['storage_service'] = storage;

  config['jobservice'] = { max_job_workers: 10, max_job_duration_hours: 24, job_loggers: ['STD_OUTPUT', 'FILE'], logger_sweeper_duration: 1 };
  config['notification'] = { webhook_job_max_retry: 3, webhook_job_http_client_timeout: 3 };
  config['log'] = { level: 'info', local: { rotate_count: 50, rotate_size: '200M', location: '/var/log/harbor' } };
  config['_version'] = cfgVersionOf(instance.version);

  const db = instance.database;
  config['external_database'] = {
    harbor: defined({
      host: db.host,
      port: db.port,
      db_name: db.dbName,
      username: db.username,
      password: secret(db.password, 'external_database', 'harbor', 'password'),
      ssl_mode: db.sslMode,
      max_idle_conns: db.maxIdleConns,
      max_open_conns: db.maxOpenConns,
      conn_max_lifetime: db.connMaxLifetime === undefined ? undefined : goDuration(db.connMaxLifetime),
      conn_max_idle_time: db.connMaxIdleTime === undefined ? undefined : goDuration(db.connMaxIdleTime),
    }),
  };

  const redis = instance.redis;
  config['external_redis'] = defined({
    host: redis.host,
    password: redis.password === undefined ? undefined : secret(redis.password, 'external_redis', 'password'),
    username: redis.username,
    sentinel_master_set: redis.sentinelMasterSet,
    registry_db_index: redis.registryDbIndex,
    jobservice_db_index: redis.jobserviceDbIndex,
    trivy_db_index: redis.trivyDbIndex,
    idle_timeout_seconds: redis.idleTimeoutSeconds,
    harbor_db_index: redis.harborDbIndex,
    cache_layer_db_index: redis.cacheLayerDbIndex,
  });

  // HA: every node sharing the database and Redis must have the same cache setting; say it explicitly.
  config['cache'] = { enabled: false, expire_hours: 24 };
  // Without this block prepare turns upload purging off, although the template (and Harbor's docs) have it on.
  config['upload_purging'] = { ...HARBOR_UPLOAD_PURGING };

  if (instance.metrics) config['metric'] = { enabled: instance.metrics.enabled, port: instance.metrics.port, path: instance.metrics.path };

  return { config, secrets };
}

function header(instance: HarborInstance): string {
  return `# Managed by mirrornet from harbor/${instance.name}.yaml. Edits are overwritten.\n# Holds secrets: keep it mode 0600.\n`;
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur: Record<string, unknown> = obj;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  cur[path[path.length - 1]!] = value;
}

/** harbor.yml as a person may see it: a parsed config (the model's or the host file's, secrets masked) under the file's header. */
export function harborYmlDisplay(instance: HarborInstance, config: unknown): string {
  return `${header(instance)}${stringify(config, { lineWidth: 0 })}`;
}

/** The model's harbor.yml with each secret shown as `show(reference)`, e.g. the reference itself on a pull request. Pure. */
export function harborYmlShown(instance: HarborInstance, show: (ref: string) => string): string {
  const { config, secrets } = harborYmlModel(instance);
  const shown = structuredClone(config);
  for (const s of secrets) setPath(shown, s.path, show(s.ref));
  return harborYmlDisplay(instance, shown);
}

/** harbor.yml as text: the model with every secret resolved. Never log or plan the result. */
export async function renderHarborYml(instance: HarborInstance, resolve: (ref: string) => Promise<string>): Promise<string> {
  const { config, secrets } = harborYmlModel(instance);
  const filled = structuredClone(config);
  for (const s of secrets) {
    const value = await resolve(s.ref);
    // prepare copies the storage keys unquoted into the registry's config.yml; the value itself is never shown.
    if (s.path[0] === 'storage_service' && verbatimYamlProblem(value) !== undefined) {
      throw new MirrornetError(
        `The secret ${s.ref} (${s.path.join('.')}) cannot go into harbor.yml: Harbor 2.15's prepare copies it unquoted into the registry's ` +
          'config.yml, where YAML would read it as something else (a leading or trailing space, ": ", " #", a quote or bracket first, or a word ' +
          'such as true or null). Use a key without such characters.',
      );
    }
    setPath(filled, s.path, value);
  }
  return `${header(instance)}${stringify(filled, { lineWidth: 0 })}`;
}

/** A deep copy of a parsed harbor.yml with every secret-looking value (and every known slot) masked. */
export function maskHarborConfig(value: unknown, slots: readonly (readonly string[])[] = [], path: readonly string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v) => maskHarborConfig(v, slots, path));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const p = [...path, k];
      const isSlot = slots.some((s) => s.length === p.length && s.every((x, i) => x === p[i]));
      out[k] = (isSlot || SECRET_KEY_PATTERN.test(k)) && (v === null || typeof v !== 'object') ? MASK : maskHarborConfig(v, slots, p);
    }
    return out;
  }
  return value;
}
