// What Harbor 2.15's installer refuses, substitutes or leaves to its defaults, as values: the limits and defaults
// the inventory entries of harbor.yml describe (harbor-prepare.ts, where each is traced to its upstream file), for
// the rules that check a HarborInstance and the renderer that writes harbor.yml (which writes a key the template
// has whenever prepare's default for it differs from the template's: upload_purging).
import { GO_MAX_DURATION_NS, goDurationNs } from '../go-duration.js';
import { parse } from 'yaml';

/** prepare's validate() refuses these hostnames (the first is the template's placeholder). */
export const HARBOR_REFUSED_HOSTNAMES = ['reg.mydomain.com', '127.0.0.1'] as const;
/** prepare's default_https_cert_path and default_https_key_path: both are this, and validate() refuses it for either file. */
export const HARBOR_PLACEHOLDER_CERT_PATH = '/your/certificate/path';
/** Where the docker-compose file mounts <data_volume>/registry in the registry container (and prepare's default rootdirectory). */
export const HARBOR_REGISTRY_STORAGE = '/storage';
/** prepare empties <data_volume>/secret/cert before it copies the nginx certificate and key into it. */
export const HARBOR_NGINX_CERT_DIR = 'secret/cert';
/** prepare's Redis database indexes when external_redis leaves them out (or sets them to 0). */
export const HARBOR_REDIS_DEFAULTS = { registryDbIndex: 1, jobserviceDbIndex: 2, trivyDbIndex: 5, idleTimeoutSeconds: 30 } as const;
/** prepare's max_idle_conns when the key is absent or 0. */
export const HARBOR_DB_DEFAULT_MAX_IDLE = 2;
/** Harbor core parses the pool sizes with strconv.ParseInt(s, 10, 32); a larger value reads as 0. */
export const HARBOR_INT_MAX = 2147483647;
/** Ports the components listen on inside their containers, next to the metric listener on metric.port. */
export const HARBOR_COMPONENT_PORTS: Readonly<Record<number, string>> = { 8080: 'core and jobservice listen on 8080', 5000: 'the registry listens on 5000' };
/** The metric path the exporter serves and the plain-HTTP nginx proxies (both hard-coded). */
export const HARBOR_METRIC_PATH = '/metrics';
/** The template's upload_purging block; prepare disables purging when the block is absent. */
export const HARBOR_UPLOAD_PURGING = { enabled: true, age: '168h', interval: '24h', dryrun: false } as const;

/** True when a model duration (30s, 15m, 24h, 7d) is longer than Go's time.ParseDuration accepts. */
export function exceedsGoDuration(duration: string): boolean {
  return (goDurationNs(duration) ?? 0n) > GO_MAX_DURATION_NS;
}

/**
 * prepare copies each storage setting into the registry's config.yml as `key: value`, unquoted (Python
 * str(value); a value equal to True, integer 1 included, becomes `true`), and the registry reads that with a
 * YAML 1.1 parser. Undefined when the value reads back unchanged; else what it reads back as.
 */
export function verbatimYamlProblem(value: string | number | boolean): string | undefined {
  const written = value === true || value === 1 ? 'true' : value === false ? 'False' : String(value);
  let back: unknown;
  try {
    back = (parse(`key: ${written}\n`, { version: '1.1' }) as { key?: unknown } | null)?.key;
  } catch {
    return 'a YAML syntax error';
  }
  if (back === value) return undefined;
  return back === null || back === undefined ? 'an empty value' : `${typeof back === 'string' ? 'the string' : `the ${typeof back}`} ${JSON.stringify(back)}`;
}
