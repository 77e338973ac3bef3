// What Harbor 2.15's installer would refuse or silently change in the harbor.yml mirrornet renders: the checks
// of the constraint inventory (model/constraints/harbor-prepare.ts) that a HarborInstance value can break. Each
// finding names the upstream behaviour; the S3 driver's own checks are in harbor-s3.ts.
import { stringify } from 'yaml';
import {
  exceedsGoDuration,
  HARBOR_COMPONENT_PORTS,
  HARBOR_DB_DEFAULT_MAX_IDLE,
  HARBOR_INT_MAX,
  HARBOR_METRIC_PATH,
  HARBOR_NGINX_CERT_DIR,
  HARBOR_PLACEHOLDER_CERT_PATH,
  HARBOR_REDIS_DEFAULTS,
  HARBOR_REFUSED_HOSTNAMES,
  HARBOR_REGISTRY_STORAGE,
  verbatimYamlProblem,
} from '../../model/constraints/harbor-prepare-values.js';
import type { Finding } from '../../model/finding.js';
import type { HarborInstance } from '../../model/schema.js';
import type { SourceFile } from '../../model/source.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const hostname = reporter({ id: 'harbor/hostname', severity: 'error' });
const installPaths = reporter({ id: 'harbor/install-paths', severity: 'error' });
const redisUrl = reporter({ id: 'harbor/redis-url', severity: 'error' });
const dbPool = reporter({ id: 'harbor/database-pool', severity: 'error' });
const metric = reporter({ id: 'harbor/metric', severity: 'error' });
const verbatim = reporter({ id: 'harbor/storage-verbatim', severity: 'error' });

const DEFAULT_DATA_VOLUME = '/data';
/** Characters of a URL's user info that need no escaping (RFC 3986 unreserved and sub-delims). */
const USERINFO_SAFE = /^[A-Za-z0-9._~!$&'()*+,;=-]+$/;
const PATH_SAFE = /^[A-Za-z0-9._-]+$/;
const METRIC_PATH_SAFE = /^\/[A-Za-z0-9._/-]*$/;
/** No whitespace, colon (docker -v), quote, backslash or glob character: ./prepare uses the value unquoted in bash. */
const DATA_VOLUME_SAFE = /^\/[^\s:'"\\*?[]*$/;

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir.replace(/\/+$/, '')}/`);

function checkHostname(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  if ((HARBOR_REFUSED_HOSTNAMES as readonly string[]).includes(h.hostname)) {
    const said = h.hostname === '127.0.0.1' ? '"127.0.0.1 can not be the hostname"' : '"Please specify hostname" (it is the template\'s placeholder)';
    out.push(hostname(f, ['hostname'], `Harbor 2.15's prepare refuses hostname ${h.hostname} with ${said}: use the name clients reach this Harbor by.`));
  } else if (/^(localhost|::1|127\.\d+\.\d+\.\d+)$/.test(h.hostname)) {
    out.push(
      hostname(
        f,
        ['hostname'],
        `hostname ${h.hostname} is this machine's loopback: Harbor's template says not to use localhost or 127.0.0.1, because clients on other ` +
          'hosts cannot reach it. Use the name clients reach this Harbor by.',
        { severity: 'warning' },
      ),
    );
  }
}

function checkPaths(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const data = h.dataVolume ?? DEFAULT_DATA_VOLUME;
  if (h.dataVolume !== undefined && (!DATA_VOLUME_SAFE.test(data) || stringify(data).trim() !== data)) {
    out.push(
      installPaths(
        f,
        ['dataVolume'],
        `dataVolume ${JSON.stringify(data)} breaks Harbor 2.15's ./prepare, which reads data_volume with grep and awk '{print $NF}' and ` +
          'mounts it unquoted with docker run -v $data_path:/data: use a path without spaces, colons, quotes, backslashes or * ? [, such as /data/harbor.',
      ),
    );
  }
  if (h.loadBalancer.mode === 'l4' && h.tls) {
    const certDir = `${data.replace(/\/+$/, '')}/${HARBOR_NGINX_CERT_DIR}`;
    for (const [key, path] of [
      ['certificate', h.tls.certificate],
      ['privateKey', h.tls.privateKey],
    ] as const) {
      if (path === HARBOR_PLACEHOLDER_CERT_PATH) {
        out.push(
          installPaths(
            f,
            ['tls', key],
            `${path} is Harbor's placeholder path, which prepare refuses for the certificate and the key ("The protocol is https but attribute ` +
              `${key === 'certificate' ? 'ssl_cert' : 'ssl_cert_key'} is not set"): give the path of this Harbor's own file.`,
          ),
        );
      } else if (under(path, certDir)) {
        out.push(
          installPaths(
            f,
            ['tls', key],
            `Harbor 2.15's prepare deletes ${certDir} and then copies the nginx certificate and key into it, so ${path} is gone before it is read: ` +
              'keep the files elsewhere, e.g. /etc/harbor/tls.',
          ),
        );
      }
    }
  }
  const root = h.storage.filesystem?.rootdirectory;
  if (root !== undefined && !under(root, HARBOR_REGISTRY_STORAGE)) {
    out.push(
      installPaths(
        f,
        ['storage', 'filesystem', 'rootdirectory'],
        `rootdirectory is a path inside the registry container, and Harbor 2.15's docker-compose.yml mounts <dataVolume>/registry at ` +
          `${HARBOR_REGISTRY_STORAGE} there: images under ${root} are written into the container and lost when it is recreated. ` +
          `Use ${HARBOR_REGISTRY_STORAGE} (prepare's default) and choose the host directory with dataVolume.`,
      ),
    );
  }
}

function checkRedis(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const r = h.redis;
  if (r.username !== undefined && r.password === undefined) {
    out.push(
      redisUrl(
        f,
        ['redis', 'username'],
        `Harbor 2.15's prepare writes the Redis username in front of ":<password>@" in the URLs it builds; without a password the name runs into ` +
          `the host (redis://${r.username}${r.host.split(',')[0]}/1). Add password: env:NAME, or remove username.`,
      ),
    );
  } else if (r.username !== undefined && !USERINFO_SAFE.test(r.username)) {
    out.push(
      redisUrl(
        f,
        ['redis', 'username'],
        `Harbor 2.15's prepare puts the Redis username into its URLs without escaping it: a name with @ : / ? # % or a space breaks them. ` +
          'Use a name of letters, digits and . _ - ~.',
      ),
    );
  }
  if (r.host.includes(',') && r.sentinelMasterSet === undefined) {
    out.push(
      redisUrl(
        f,
        ['redis', 'host'],
        'Several hosts are Redis Sentinels: without sentinelMasterSet Harbor 2.15 builds redis://host1,host2/... and connects to no server. ' +
          'Add sentinelMasterSet (the name the sentinels monitor), or give one host:port.',
      ),
    );
  }
  if (r.sentinelMasterSet !== undefined && !PATH_SAFE.test(r.sentinelMasterSet)) {
    out.push(
      redisUrl(
        f,
        ['redis', 'sentinelMasterSet'],
        "Harbor 2.15's prepare puts sentinelMasterSet unescaped into the path of its Redis URLs, and the registry splits that path on /: " +
          'use letters, digits and . _ - only.',
      ),
    );
  }
  if (r.idleTimeoutSeconds === 0) {
    out.push(
      redisUrl(
        f,
        ['redis', 'idleTimeoutSeconds'],
        `Harbor 2.15's prepare drops external_redis values that are 0 and uses its default, so idleTimeoutSeconds 0 becomes ` +
          `${HARBOR_REDIS_DEFAULTS.idleTimeoutSeconds}: set 1 or more, or remove it for ${HARBOR_REDIS_DEFAULTS.idleTimeoutSeconds}.`,
      ),
    );
  }
}

function checkDatabase(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const db = h.database;
  if (db.maxIdleConns === 0) {
    out.push(
      dbPool(
        f,
        ['database', 'maxIdleConns'],
        `Harbor 2.15's prepare reads max_idle_conns 0 as unset and writes ${HARBOR_DB_DEFAULT_MAX_IDLE}: set 1 or more, ` +
          `or remove it for ${HARBOR_DB_DEFAULT_MAX_IDLE}.`,
      ),
    );
  }
  for (const key of ['maxIdleConns', 'maxOpenConns'] as const) {
    const v = db[key];
    if (v !== undefined && v > HARBOR_INT_MAX) {
      out.push(
        dbPool(
          f,
          ['database', key],
          `${key} ${v} is above ${HARBOR_INT_MAX}: Harbor 2.15's core parses it as a 32-bit integer, fails and uses 0 ` +
            `(${key === 'maxIdleConns' ? 'no idle connections' : 'no limit'}). Use ${HARBOR_INT_MAX} or less.`,
        ),
      );
    }
  }
  if (db.maxIdleConns !== undefined && db.maxOpenConns !== undefined && db.maxOpenConns > 0 && db.maxIdleConns > db.maxOpenConns) {
    out.push(
      dbPool(
        f,
        ['database', 'maxIdleConns'],
        `maxIdleConns ${db.maxIdleConns} is above maxOpenConns ${db.maxOpenConns}: Go's database/sql lowers it to ${db.maxOpenConns}. ` +
          'Set it to maxOpenConns or less.',
        { severity: 'warning' },
      ),
    );
  }
  for (const key of ['connMaxLifetime', 'connMaxIdleTime'] as const) {
    const v = db[key];
    if (v !== undefined && exceedsGoDuration(v)) {
      out.push(
        dbPool(
          f,
          ['database', key],
          `${key} ${v} is longer than Go's time.ParseDuration accepts (about 2562047h, 292 years): Harbor 2.15's core fails to parse it and uses 0, ` +
            'which means no limit. Use a shorter duration.',
        ),
      );
    }
  }
}

function checkMetric(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const m = h.metrics;
  if (!m?.enabled) return;
  const inside = HARBOR_COMPONENT_PORTS[m.port];
  const hostPorts = h.loadBalancer.mode === 'l4' ? [80, 443] : [80];
  if (inside) {
    out.push(
      metric(
        f,
        ['metrics', 'port'],
        `Harbor 2.15's core, jobservice and registry open their metric listener on port ${m.port} inside their containers, where ${inside}: ` +
          'one of the two listeners cannot bind (the registry exits when its metric listener fails). Use another port, e.g. 9090.',
      ),
    );
  } else if (hostPorts.includes(m.port)) {
    out.push(
      metric(
        f,
        ['metrics', 'port'],
        `Harbor 2.15's docker-compose.yml publishes nginx on host port ${m.port} already (http${m.port === 443 ? 's' : ''}.port), and the ` +
          `metric port too (${m.port}:9090): docker compose cannot start the proxy. Use another port, e.g. 9090.`,
      ),
    );
  }
  if (!METRIC_PATH_SAFE.test(m.path)) {
    out.push(
      metric(
        f,
        ['metrics', 'path'],
        "Harbor 2.15's prepare copies the metric path verbatim into nginx.conf and the registry's config.yml: use letters, digits and / . _ - only.",
      ),
    );
  } else if (m.path !== HARBOR_METRIC_PATH) {
    out.push(
      metric(
        f,
        ['metrics', 'path'],
        `Harbor 2.15's exporter serves only ${HARBOR_METRIC_PATH}, and its plain-HTTP nginx proxies only ${HARBOR_METRIC_PATH} on the metric ` +
          `port: with ${m.path} part of the metrics answer 404. Use ${HARBOR_METRIC_PATH}.`,
        { severity: 'warning' },
      ),
    );
  }
}

function checkVerbatim(h: HarborInstance, f: SourceFile, out: Finding[]): void {
  const values: [string[], string | undefined][] = [
    ...(['region', 'regionendpoint', 'bucket', 'keyid', 'rootdirectory', 'storageclass'] as const).map((k): [string[], string | undefined] => [
      ['storage', 's3', k],
      h.storage.s3?.[k],
    ]),
    [['storage', 'filesystem', 'rootdirectory'], h.storage.filesystem?.rootdirectory],
  ];
  for (const [path, value] of values) {
    if (value === undefined) continue;
    const problem = verbatimYamlProblem(value);
    if (problem === undefined) continue;
    const key = path[path.length - 1]!;
    out.push(
      verbatim(
        f,
        path,
        `Harbor 2.15's prepare copies ${key} unquoted into the registry's config.yml (${key}: ${value}), where it reads back as ${problem}: ` +
          'the registry gets another value or fails to start. Remove the spaces, " #", ": " or quotes, or the leading character YAML treats specially.',
      ),
    );
  }
}

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  for (const { value: h, file: f } of [...ctx.fleet.harbors.values()]) {
    checkHostname(h, f, out);
    checkPaths(h, f, out);
    checkRedis(h, f, out);
    checkDatabase(h, f, out);
    checkMetric(h, f, out);
    checkVerbatim(h, f, out);
  }
  return out;
}

export const harborPrepareRules: RuleFamily = {
  id: 'harbor-prepare',
  rules: [
    {
      id: 'harbor/hostname',
      severity: 'error',
      summary: "hostname is not one Harbor's prepare refuses (127.0.0.1, the template's reg.mydomain.com); loopback names are a warning.",
      example: 'hostname: 127.0.0.1',
    },
    {
      id: 'harbor/install-paths',
      severity: 'error',
      summary:
        "dataVolume is a plain path ./prepare can mount; the l4 certificate is not the template's placeholder nor under <dataVolume>/secret/cert; " +
        'a filesystem rootdirectory is under /storage (the registry volume).',
      example: 'storage: { filesystem: { rootdirectory: /data/registry } }',
    },
    {
      id: 'harbor/redis-url',
      severity: 'error',
      summary:
        'The Redis settings make the URLs prepare builds: a username needs a password and no URL characters, several hosts need sentinelMasterSet, ' +
        'idleTimeoutSeconds is not 0.',
      example: 'redis: { host: 10.0.0.5:6379, username: harbor } without password',
    },
    {
      id: 'harbor/database-pool',
      severity: 'error',
      summary:
        "Database pool settings keep their meaning in Harbor: maxIdleConns is not 0 (read as 2), sizes fit 32 bits, durations fit Go's; " +
        'maxIdleConns above maxOpenConns is a warning.',
      example: 'maxIdleConns: 0',
    },
    {
      id: 'harbor/metric',
      severity: 'error',
      summary: "The metric port is free in Harbor's containers (not 8080, 5000) and on the host (not 80, 443); a path other than /metrics is a warning.",
      example: 'metrics: { enabled: true, port: 8080 }',
    },
    {
      id: 'harbor/storage-verbatim',
      severity: 'error',
      summary: "Storage values that Harbor's prepare copies unquoted into the registry's config.yml read back as the same string.",
      example: "rootdirectory: '/registry #old'",
    },
  ],
  check,
};
