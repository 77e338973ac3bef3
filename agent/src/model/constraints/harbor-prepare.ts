// The constraint inventory of harbor.yml as Harbor 2.15's installer reads it: `./prepare` (a shell script that
// reads data_volume itself) runs make/photon/prepare (parse_yaml_config, validate, the templates of the files it
// generates), and the components then parse what it wrote. One entry per key path the harbor-config renderer can
// emit (parents too: a block's presence switches behaviour); the storage_service.s3.* keys are the S3 driver's
// (distribution-s3.ts). The values rules and the renderer share (limits, defaults, the keys left out) are in
// harbor-prepare-values.ts.
import {
  HARBOR_DB_DEFAULT_MAX_IDLE,
  HARBOR_INT_MAX,
  HARBOR_METRIC_PATH,
  HARBOR_NGINX_CERT_DIR,
  HARBOR_PLACEHOLDER_CERT_PATH,
  HARBOR_REDIS_DEFAULTS,
  HARBOR_REFUSED_HOSTNAMES,
  HARBOR_REGISTRY_STORAGE,
} from './harbor-prepare-values.js';
import type { Constraint, Upstream } from './types.js';

/** The Harbor release every entry was read at. */
const HARBOR_REF = 'v2.15.2';

const harbor = (path: string, at?: string): Upstream => ({ repo: 'goharbor/harbor', path, ref: HARBOR_REF, ...(at ? { at } : {}) });
const CONFIGS = (at: string) => harbor('make/photon/prepare/utils/configs.py', at);
const MODELS = (at: string) => harbor('make/photon/prepare/models.py', at);
const TMPL = harbor('make/harbor.yml.tmpl');
const PREPARE_SH = harbor('make/prepare', 'data_path=$(grep ... | awk ...); docker run -v $data_path:/data');
const COMPOSE = harbor('make/photon/prepare/templates/docker_compose/docker-compose.yml.jinja');
const REGISTRY_PY = harbor('make/photon/prepare/utils/registry.py', 'get_storage_provider_info, parse_redis');
const REGISTRY_TPL = harbor('make/photon/prepare/templates/registry/config.yml.jinja');
const CORE_ENV = harbor('make/photon/prepare/templates/core/env.jinja');
const CFG_TYPES = harbor('src/lib/config/metadata/type.go', 'IntType (parseInt, 32 bits), DurationType');
const CFG_VALUES = harbor('src/lib/config/metadata/value.go', 'GetInt, GetDuration: log the error and return 0');
const JS_TPL = harbor('make/photon/prepare/templates/jobservice/config.yml.jinja');
const JS_ENV = harbor('make/photon/prepare/templates/jobservice/env.jinja');
const NGINX_HTTP = harbor('make/photon/prepare/templates/nginx/nginx.http.conf.jinja', 'listen 9090; location = /metrics');
const NGINX_HTTPS = harbor('make/photon/prepare/templates/nginx/nginx.https.conf.jinja', 'listen 9090; location = {{ metric.path }}');
const GO_SQL: Upstream = { repo: 'golang/go', path: 'src/database/sql/sql.go', ref: 'go1.26.4', at: 'DB.SetMaxIdleConns, DB.SetMaxOpenConns' };
const GO_TIME: Upstream = { repo: 'golang/go', path: 'src/time/format.go', ref: 'go1.26.4', at: 'ParseDuration' };

const e = (c: Omit<Constraint, 'consumer'>): Constraint => ({ consumer: 'harbor-prepare', ...c });
const FROM_DB = (f: string) => [`HarborInstance.database.${f}`];
const FROM_REDIS = (f: string) => [`HarborInstance.redis.${f}`];
const REDIS_URL = CONFIGS('get_redis_configs, get_redis_url');

export const HARBOR_PREPARE: readonly Constraint[] = [
  e({
    key: 'hostname',
    type: 'string',
    range: `any host but ${HARBOR_REFUSED_HOSTNAMES.join(' and ')} (validate raises: "Please specify hostname", "127.0.0.1 can not be the hostname")`,
    default: 'none: required (KeyError)',
    from: ['HarborInstance.hostname'],
    rule: 'harbor/hostname',
    note: 'Used only to build the public URL when external_url is absent; the template asks not to use localhost or 127.0.0.1.',
    upstream: [CONFIGS('parse_yaml_config, validate'), TMPL],
  }),
  e({ key: 'http', type: 'map', default: '{port: 80}', from: [], upstream: [CONFIGS('parse_yaml_config')] }),
  e({
    key: 'http.port',
    type: 'int',
    range: '1-65535, a host port',
    default: '80',
    from: [],
    note: 'docker-compose publishes {{http_port}}:8080 (nginx).',
    upstream: [COMPOSE],
  }),
  e({
    key: 'https',
    type: 'map',
    requires: ['https.certificate', 'https.private_key'],
    default: 'absent: the protocol is http',
    from: ['HarborInstance.loadBalancer.mode'],
    note: 'Its presence switches nginx to TLS with a redirect from http.port; certificate and private_key are required (KeyError).',
    upstream: [CONFIGS('parse_yaml_config'), harbor('make/photon/prepare/utils/nginx.py', 'render_nginx_template')],
  }),
  e({ key: 'https.port', type: 'int', range: '1-65535, a host port', default: '443', from: [], upstream: [CONFIGS('parse_yaml_config'), COMPOSE] }),
  ...(['certificate', 'private_key'] as const).map((k) =>
    e({
      key: `https.${k}`,
      type: 'string (host path)',
      range:
        `not ${HARBOR_PLACEHOLDER_CERT_PATH} (validate raises; it is prepare's placeholder for both files), and not under ` +
        `<data_volume>/${HARBOR_NGINX_CERT_DIR}/ (prepare deletes that directory, then copies the file into it)`,
      default: 'none: required with https (KeyError)',
      from: [k === 'certificate' ? 'HarborInstance.tls.certificate' : 'HarborInstance.tls.privateKey', 'HarborInstance.dataVolume', 'HarborInstance.hostname'],
      rule: 'harbor/install-paths',
      note: 'Read on the host through /hostfs. Without tls in the model, mirrornet writes <dataVolume>/cert/<hostname>.crt and .key.',
      upstream: [CONFIGS('validate'), harbor('make/photon/prepare/utils/nginx.py', 'prepare_nginx_certs')],
    }),
  ),
  e({
    key: 'external_url',
    type: 'string (URL)',
    syntax: 'scheme://host[:port], no path',
    range: "Harbor serves at the root: the token service URL it gives clients is the scheme of external_url, the request's Host and /service/token",
    default: 'protocol://hostname, with the port unless 80 (http) or 443 (https)',
    from: ['HarborInstance.externalUrl', 'HarborInstance.loadBalancer.mode'],
    rule: 'harbor/external-url',
    note: 'mirrornet leaves it out in l4 mode when it equals what prepare derives (https://<hostname>).',
    upstream: [CONFIGS('parse_yaml_config'), harbor('src/server/middleware/v2auth/auth.go', 'tokenSvcURL')],
  }),
  e({
    key: 'harbor_admin_password',
    type: 'string (secret)',
    default: 'none: required (KeyError)',
    from: ['HarborInstance.adminPassword'],
    note: 'Copied verbatim into the core env file (HARBOR_ADMIN_PASSWORD=); Harbor reads it only at its first start.',
    upstream: [CONFIGS('parse_yaml_config'), CORE_ENV],
  }),
  e({
    key: 'data_volume',
    type: 'string (host path)',
    syntax: 'an absolute path with no whitespace, colon, quote or #, written unquoted',
    range: "./prepare takes the last word of the line with grep and awk '{print $NF}' and mounts it with docker run -v $data_path:/data",
    default: 'none: required (KeyError); the template has /data',
    from: ['HarborInstance.dataVolume'],
    rule: 'harbor/install-paths',
    upstream: [PREPARE_SH, CONFIGS('parse_yaml_config'), COMPOSE],
  }),
  e({
    key: 'storage_service',
    type: 'map',
    default: `filesystem with rootdirectory ${HARBOR_REGISTRY_STORAGE}`,
    from: ['HarborInstance.storage'],
    note: 'The first backend present wins, in the order filesystem, azure, gcs, s3, swift, oss.',
    upstream: [CONFIGS('parse_yaml_config')],
  }),
  e({
    key: 'storage_service.s3',
    type: 'map',
    range: 'each key is copied into the registry config.yml as `key: value`, unquoted; a value equal to True (integer 1 too) is written `true`',
    from: ['HarborInstance.storage.s3'],
    rule: 'harbor/storage-verbatim',
    note: "The keys are the S3 driver's (consumer distribution-s3, key storage.s3.<name>).",
    upstream: [REGISTRY_PY, REGISTRY_TPL],
  }),
  e({ key: 'storage_service.filesystem', type: 'map', from: ['HarborInstance.storage.filesystem'], upstream: [CONFIGS('parse_yaml_config'), REGISTRY_PY] }),
  e({
    key: 'storage_service.filesystem.rootdirectory',
    type: 'string (path in the registry container)',
    range:
      `${HARBOR_REGISTRY_STORAGE} or below: docker-compose mounts <data_volume>/registry at ${HARBOR_REGISTRY_STORAGE}; ` +
      'elsewhere images live in the container and are lost with it',
    default: `${HARBOR_REGISTRY_STORAGE} (prepare); distribution's own default /var/lib/registry is never used`,
    from: ['HarborInstance.storage.filesystem.rootdirectory'],
    rule: 'harbor/install-paths',
    note: 'Copied verbatim into the registry config.yml like the S3 keys (harbor/storage-verbatim checks that too).',
    upstream: [REGISTRY_PY, COMPOSE],
  }),
  e({
    key: 'storage_service.redirect',
    type: 'map',
    requires: ['storage_service.redirect.disable'],
    from: ['HarborInstance.storage.redirect'],
    upstream: [CONFIGS('parse_yaml_config')],
  }),
  e({
    key: 'storage_service.redirect.disable',
    type: 'bool',
    default: 'false (prepare and the template)',
    from: ['HarborInstance.storage.redirect.disable'],
    rule: 'harbor/s3-redirect',
    note: 'mirrornet writes true for S3 unless the model says otherwise: clients must not be sent to the object store.',
    upstream: [CONFIGS('parse_yaml_config'), REGISTRY_TPL],
  }),
  e({ key: 'jobservice', type: 'map', default: 'none: required (KeyError on its keys)', from: [], upstream: [CONFIGS('parse_yaml_config')] }),
  e({
    key: 'jobservice.max_job_workers',
    type: 'uint',
    default: 'none: required (KeyError); the template has 10',
    from: [],
    upstream: [CONFIGS('parse_yaml_config'), JS_TPL, harbor('src/jobservice/config/config.go', 'PoolConfig.WorkerCount')],
  }),
  e({
    key: 'jobservice.max_job_duration_hours',
    type: 'int',
    range: '>= 24: absent, not an int or below 24 reads as 24',
    default: '24 (prepare and the template)',
    from: [],
    upstream: [CONFIGS('parse_yaml_config'), JS_TPL],
  }),
  e({
    key: 'jobservice.job_loggers',
    type: '[]string',
    range: 'STD_OUTPUT, FILE, DB; the jobservice refuses an empty list ("missing logger config of job")',
    default: 'none: required (KeyError)',
    from: [],
    upstream: [CONFIGS('parse_yaml_config'), JS_TPL, harbor('src/jobservice/config/config.go', 'validate')],
  }),
  e({ key: 'jobservice.logger_sweeper_duration', type: 'int (days)', default: 'none: required (KeyError); the template has 1', from: [], upstream: [JS_TPL] }),
  e({ key: 'notification', type: 'map', default: 'none: required (KeyError on its keys)', from: [], upstream: [CONFIGS('parse_yaml_config')] }),
  e({
    key: 'notification.webhook_job_max_retry',
    type: 'uint32',
    default: 'none: required (KeyError); the jobservice uses 3 when it cannot parse it',
    from: [],
    upstream: [JS_ENV, harbor('src/jobservice/job/impl/notification/webhook_job.go', 'MaxFails')],
  }),
  e({
    key: 'notification.webhook_job_http_client_timeout',
    type: 'int64 (seconds)',
    default: 'none: required (KeyError); the jobservice uses 3 s when it cannot parse it',
    from: [],
    upstream: [JS_ENV, harbor('src/jobservice/job/impl/notification/http_helper.go', 'init')],
  }),
  e({ key: 'log', type: 'map', default: 'none: required (KeyError on log.level)', from: [], upstream: [CONFIGS('parse_yaml_config')] }),
  e({
    key: 'log.level',
    type: 'string',
    range: 'debug, info, warning, error, fatal (prepare raises otherwise)',
    default: 'none: required (KeyError)',
    from: [],
    upstream: [CONFIGS('parse_yaml_config')],
  }),
  e({ key: 'log.local', type: 'map', from: [], upstream: [CONFIGS('parse_yaml_config')] }),
  e({
    key: 'log.local.rotate_count',
    type: 'int',
    range: '>= 1: 0 reads as 50 (`or 50`), although the template says 0 removes old versions',
    default: '50',
    from: [],
    upstream: [CONFIGS('parse_yaml_config'), harbor('make/photon/prepare/templates/log/logrotate.conf.jinja')],
  }),
  e({
    key: 'log.local.rotate_size',
    type: 'string',
    syntax: "logrotate's size: N, Nk, NM or NG",
    default: '200M',
    from: [],
    upstream: [CONFIGS('parse_yaml_config'), harbor('make/photon/prepare/templates/log/logrotate.conf.jinja')],
  }),
  e({ key: 'log.local.location', type: 'string (host path)', default: '/var/log/harbor', from: [], upstream: [CONFIGS('parse_yaml_config'), COMPOSE] }),
  e({
    key: '_version',
    type: 'string',
    syntax: 'major.minor.0',
    range: 'a version the migrator accepts (1.9.0 .. 2.15.0); prepare itself ignores it',
    from: ['HarborInstance.version'],
    upstream: [harbor('make/photon/prepare/migrations/__init__.py', 'accept_versions'), harbor('make/photon/prepare/commands/migrate.py')],
  }),
  e({
    key: 'external_database',
    type: 'map',
    note: 'Its presence replaces the bundled PostgreSQL container.',
    from: ['HarborInstance.database'],
    upstream: [CONFIGS('parse_yaml_config'), COMPOSE],
  }),
  e({
    key: 'external_database.harbor',
    type: 'map',
    requires: ['host', 'port', 'db_name', 'username', 'password', 'ssl_mode'].map((k) => `external_database.harbor.${k}`),
    from: ['HarborInstance.database'],
    upstream: [CONFIGS('parse_yaml_config')],
  }),
  e({
    key: 'external_database.harbor.host',
    type: 'string',
    default: 'none: required (KeyError)',
    from: FROM_DB('host'),
    upstream: [CONFIGS('parse_yaml_config'), CORE_ENV],
  }),
  e({
    key: 'external_database.harbor.port',
    type: 'int',
    range: '0-65535 (PortType)',
    default: 'none: required (KeyError)',
    from: FROM_DB('port'),
    upstream: [CONFIGS('parse_yaml_config'), harbor('src/lib/config/metadata/type.go', 'PortType')],
  }),
  ...(['db_name', 'username'] as const).map((k) =>
    e({
      key: `external_database.harbor.${k}`,
      type: 'string',
      default: 'none: required (KeyError)',
      from: FROM_DB(k === 'db_name' ? 'dbName' : 'username'),
      note: 'Copied verbatim into the core and exporter env files; docker compose parses those (not in this inventory).',
      upstream: [CONFIGS('parse_yaml_config'), CORE_ENV],
    }),
  ),
  e({
    key: 'external_database.harbor.password',
    type: 'string (secret)',
    default: 'none: required (KeyError)',
    from: FROM_DB('password'),
    note: 'Copied verbatim into the core, exporter and db env files.',
    upstream: [CONFIGS('parse_yaml_config'), CORE_ENV],
  }),
  e({
    key: 'external_database.harbor.ssl_mode',
    type: 'string',
    range: 'disable, allow, prefer, require, verify-ca, verify-full',
    default: 'none: required (KeyError); the template has disable',
    from: FROM_DB('sslMode'),
    upstream: [CONFIGS('parse_yaml_config'), CORE_ENV],
  }),
  e({
    key: 'external_database.harbor.max_idle_conns',
    type: 'int32',
    range:
      `1-${HARBOR_INT_MAX}: 0 reads as ${HARBOR_DB_DEFAULT_MAX_IDLE} (\`or default_db_max_idle_conns\`); above ${HARBOR_INT_MAX} core reads 0; ` +
      'database/sql lowers it to max_open_conns when that is set and smaller',
    default: `${HARBOR_DB_DEFAULT_MAX_IDLE} (prepare and the template's external_database block)`,
    from: FROM_DB('maxIdleConns'),
    rule: 'harbor/database-pool',
    upstream: [CONFIGS('parse_yaml_config'), CFG_TYPES, CFG_VALUES, GO_SQL],
  }),
  e({
    key: 'external_database.harbor.max_open_conns',
    type: 'int32',
    range: `0-${HARBOR_INT_MAX}, 0 unlimited; above ${HARBOR_INT_MAX} core reads 0 (unlimited)`,
    default: '0 (prepare and the template)',
    from: FROM_DB('maxOpenConns'),
    rule: 'harbor/database-pool',
    upstream: [CONFIGS('parse_yaml_config'), CFG_TYPES, CFG_VALUES, GO_SQL],
  }),
  ...(['conn_max_lifetime', 'conn_max_idle_time'] as const).map((k) =>
    e({
      key: `external_database.harbor.${k}`,
      type: 'duration',
      syntax: 'Go time.ParseDuration (ns, us, ms, s, m, h; no d)',
      range: 'up to 2562047h; what Go cannot parse reads as 0 (no limit)',
      default: k === 'conn_max_lifetime' ? '5m' : '0 (no limit)',
      from: FROM_DB(k === 'conn_max_lifetime' ? 'connMaxLifetime' : 'connMaxIdleTime'),
      rule: 'harbor/database-pool',
      note: 'The renderer writes d as hours (7d -> 168h). The template documents these keys only for the bundled database; prepare reads them here too.',
      upstream: [CONFIGS('parse_yaml_config'), CFG_TYPES, CFG_VALUES, GO_TIME],
    }),
  ),
  e({
    key: 'external_redis',
    type: 'map',
    range: 'keys with a falsy value (0, "", false) are dropped and prepare\'s defaults used',
    note: 'Its presence (with no `redis` block) replaces the bundled Redis container.',
    from: ['HarborInstance.redis'],
    upstream: [REDIS_URL, COMPOSE],
  }),
  e({
    key: 'external_redis.host',
    type: 'string',
    syntax: 'host:port, or sentinels host:port,host:port,... with sentinel_master_set',
    range: 'goes verbatim into redis[+sentinel]://[username][:password@]host[/master]/db; several hosts need sentinel_master_set',
    default: 'redis:6379',
    from: FROM_REDIS('host'),
    rule: 'harbor/redis-url',
    upstream: [REDIS_URL, REGISTRY_PY],
  }),
  e({
    key: 'external_redis.password',
    type: 'string (secret)',
    default: "'' (no AUTH)",
    from: FROM_REDIS('password'),
    note: 'URL-quoted into the Redis URLs (quote(..., safe="")).',
    upstream: [REDIS_URL],
  }),
  e({
    key: 'external_redis.username',
    type: 'string',
    range: 'needs a password (prepare writes `:password@` after it, so without one the name runs into the host); not escaped: no @ : / ? # % or spaces',
    requires: ['external_redis.password'],
    from: FROM_REDIS('username'),
    rule: 'harbor/redis-url',
    upstream: [REDIS_URL, REGISTRY_PY],
  }),
  e({
    key: 'external_redis.sentinel_master_set',
    type: 'string',
    range: 'not escaped into the URL path /<master>/<db>, which the registry splits on /: letters, digits, . _ - only',
    from: FROM_REDIS('sentinelMasterSet'),
    rule: 'harbor/redis-url',
    upstream: [REDIS_URL, REGISTRY_PY],
  }),
  ...(
    [
      ['registry_db_index', 'registryDbIndex', `${HARBOR_REDIS_DEFAULTS.registryDbIndex}`],
      ['jobservice_db_index', 'jobserviceDbIndex', `${HARBOR_REDIS_DEFAULTS.jobserviceDbIndex}`],
      ['trivy_db_index', 'trivyDbIndex', `${HARBOR_REDIS_DEFAULTS.trivyDbIndex} (used only by ./prepare --with-trivy)`],
      ['harbor_db_index', 'harborDbIndex', "none: core's database 0"],
      ['cache_layer_db_index', 'cacheLayerDbIndex', "none: core's database 0 (used only with cache.enabled)"],
    ] as const
  ).map(([k, field, dflt]) =>
    e({
      key: `external_redis.${k}`,
      type: 'int',
      range: ">= 1 (0 is core's and reads as the default); distinct from the other indexes, defaults included",
      default: dflt,
      from: FROM_REDIS(field),
      rule: 'harbor/redis-index',
      upstream: [REDIS_URL, CORE_ENV],
    }),
  ),
  e({
    key: 'external_redis.idle_timeout_seconds',
    type: 'int',
    range: `>= 1: 0 is dropped and reads as ${HARBOR_REDIS_DEFAULTS.idleTimeoutSeconds}`,
    default: `${HARBOR_REDIS_DEFAULTS.idleTimeoutSeconds} (prepare and the template)`,
    from: FROM_REDIS('idleTimeoutSeconds'),
    rule: 'harbor/redis-url',
    note: 'Appended to every Redis URL as ?idle_timeout_seconds=N.',
    upstream: [REDIS_URL],
  }),
  e({
    key: 'cache',
    type: 'map',
    default: 'disabled',
    from: [],
    note: 'Every node sharing the database must agree (FACTS): mirrornet writes it.',
    upstream: [MODELS('Cache')],
  }),
  e({ key: 'cache.enabled', type: 'bool', default: 'false (prepare and the template)', from: [], upstream: [MODELS('Cache'), CORE_ENV] }),
  e({
    key: 'cache.expire_hours',
    type: 'int',
    range: '> 0 when enabled (validate raises)',
    default: 'the template has 24',
    from: [],
    upstream: [MODELS('Cache')],
  }),
  e({
    key: 'metric',
    type: 'map',
    requires: ['metric.enabled', 'metric.port', 'metric.path'],
    default: 'disabled',
    from: ['HarborInstance.metrics'],
    note: 'All three keys are required when the block is there (KeyError).',
    upstream: [CONFIGS('parse_yaml_config'), MODELS('Metric')],
  }),
  e({ key: 'metric.enabled', type: 'bool', default: 'false', from: ['HarborInstance.metrics.enabled'], upstream: [CONFIGS('parse_yaml_config')] }),
  e({
    key: 'metric.port',
    type: 'int',
    range:
      'published on the host as <port>:9090 (not 80, nor 443 with https) and the metric listener of core, jobservice and registry ' +
      'in their containers (not 8080, not 5000); Metric.validate is never called, so prepare checks nothing',
    default: 'the template has 9090',
    from: ['HarborInstance.metrics.port', 'HarborInstance.loadBalancer.mode'],
    rule: 'harbor/metric',
    upstream: [COMPOSE, CORE_ENV, REGISTRY_TPL, JS_TPL, harbor('src/lib/metric/server.go', 'ServeProm'), MODELS('Metric')],
  }),
  e({
    key: 'metric.path',
    type: 'string',
    range:
      `${HARBOR_METRIC_PATH}: the exporter serves only ${HARBOR_METRIC_PATH}, and the plain-HTTP nginx only proxies ${HARBOR_METRIC_PATH}; ` +
      'copied verbatim into nginx.conf and the registry config.yml: letters, digits and / . _ - only',
    default: `the template has ${HARBOR_METRIC_PATH}`,
    from: ['HarborInstance.metrics.path'],
    rule: 'harbor/metric',
    upstream: [NGINX_HTTP, NGINX_HTTPS, harbor('make/photon/prepare/templates/exporter/env.jinja'), REGISTRY_TPL],
  }),
  e({
    key: 'upload_purging',
    type: 'map',
    default: 'absent: purging is off (PurgeUpload({}).enabled is None); the template enables it',
    from: [],
    note: 'Prepare and the template disagree, so mirrornet writes the template block (HARBOR_UPLOAD_PURGING).',
    upstream: [CONFIGS('parse_yaml_config'), MODELS('PurgeUpload'), TMPL, REGISTRY_TPL],
  }),
  e({ key: 'upload_purging.enabled', type: 'bool', default: 'off when absent; the template has true', from: [], upstream: [MODELS('PurgeUpload')] }),
  ...(['age', 'interval'] as const).map((k) =>
    e({
      key: `upload_purging.${k}`,
      type: 'string',
      syntax: 'Nh (hours only)',
      range: 'N >= 2 (validate raises otherwise)',
      default: k === 'age' ? '168h' : '24h',
      from: [],
      upstream: [MODELS('PurgeUpload')],
    }),
  ),
  e({ key: 'upload_purging.dryrun', type: 'bool', default: 'false', from: [], upstream: [MODELS('PurgeUpload')] }),
];
