// The zod schema of a Harbor instance (harbor/*.yaml): its installer settings, storage, projects, registry
// endpoints, robot accounts and replication rules. Apart from schema.ts only to keep that file readable;
// schema.ts re-exports it with the other kinds.
import { z } from 'zod';
import { Duration, Host, HostPath, HostPortList, HttpUrl, Name, Port, SecretRef } from './field-formats.js';

/** storage.filesystem.rootdirectory is read by the registry in its container, where Harbor mounts <dataVolume>/registry at /storage. */
const RegistryPath = z
  .string()
  .regex(/^\//, { error: 'must be an absolute path inside the registry container, such as /storage (Harbor mounts <dataVolume>/registry there)' })
  .describe("A path in Harbor's registry container: /storage, where Harbor mounts <dataVolume>/registry (harbor/install-paths).");

const HarborS3 = z.strictObject({
  accesskey: SecretRef,
  secretkey: SecretRef,
  region: z.string().min(1),
  regionendpoint: HttpUrl.optional().describe('The S3 endpoint, e.g. https://obs.cn-north-4.myhuaweicloud.com (forces path-style requests).'),
  bucket: z.string().regex(/^(?![0-9.]+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    error: 'must be an S3 bucket name such as harbor-cn-beijing (3-63 lowercase letters, digits, dots and dashes, not an address)',
  }),
  encrypt: z.boolean().optional(),
  keyid: z.string().optional(),
  secure: z.boolean().optional(),
  skipverify: z.boolean().optional(),
  v4auth: z.boolean().optional(),
  chunksize: z.int().optional().describe('5 MiB .. 5 GiB, in bytes.'),
  multipartcopychunksize: z.int().optional(),
  multipartcopymaxconcurrency: z.int().optional(),
  multipartcopythresholdsize: z.int().optional(),
  rootdirectory: z.string().optional(),
  storageclass: z.string().optional(),
});

const SIZE_UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** A project quota in bytes: `500Gi` -> 536870912000, `-1` -> -1 (unlimited). */
export function quotaBytes(size: string): number {
  if (size === '-1') return -1;
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(size);
  if (!m) throw new Error(`not a size: ${size}`);
  return Number(m[1]) * SIZE_UNITS[m[2] ?? '']!;
}

const HarborProject = z.strictObject({
  name: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, { error: 'must be a Harbor project name: lowercase, digits, . _ -' }),
  public: z.boolean().default(false),
  quota: z
    .string()
    .regex(/^(-1|\d+(Ki|Mi|Gi|Ti)?)$/, { error: 'must be a size such as 500Gi, or -1 for unlimited' })
    .optional(),
  proxyCache: z
    .strictObject({ endpoint: z.string().min(1) })
    .optional()
    .describe('Makes this a proxy-cache project of an endpoint; cannot change later.'),
});

const HarborEndpoint = z.strictObject({
  name: z.string().min(1),
  type: z.enum(['docker-hub', 'docker-registry', 'harbor']),
  url: HttpUrl,
  accessKey: z.string().optional(),
  accessSecret: SecretRef.optional(),
  insecure: z.boolean().default(false),
});

const HarborRobot = z.strictObject({
  name: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/, { error: 'must be lowercase letters, digits, . _ -' }),
  description: z.string().optional(),
  duration: z.int().min(-1).default(-1).describe('Days; -1 never expires.'),
  secret: SecretRef,
  permissions: z
    .array(
      z.strictObject({
        project: z.string().min(1).describe('A project name or * for all.'),
        access: z.array(z.string().regex(/^[a-z-]+:[a-z-]+$/, { error: 'must be resource:action, e.g. repository:pull' })).min(1),
      }),
    )
    .min(1),
});

const ReplicationRule = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  source: Name.describe('HarborInstance images come from.'),
  destination: Name.describe('HarborInstance images go to.'),
  destinationNamespace: z.string().optional(),
  filters: z
    .array(
      z.strictObject({ type: z.enum(['name', 'tag', 'label', 'resource']), value: z.string().min(1), decoration: z.enum(['matches', 'excludes']).optional() }),
    )
    .default([]),
  trigger: z.strictObject({
    type: z.enum(['manual', 'event_based', 'scheduled']),
    cron: z.string().optional().describe("Harbor's 6-field cron, seconds first: '0 0 */2 * * *'."),
  }),
  deletion: z.boolean().default(false),
  override: z.boolean().default(true),
  speedKbps: z.int().min(-1).default(-1),
  copyByChunk: z.boolean().default(false),
  enabled: z.boolean().default(true),
});

export const HarborInstance = z.strictObject({
  kind: z.literal('HarborInstance'),
  name: Name,
  description: z.string().optional(),
  hub: Name.describe('The core site this Harbor runs in.'),
  version: z.string().regex(/^v?\d+\.\d+\.\d+$/, { error: 'must be a Harbor version such as v2.15.2' }),
  hostname: Host,
  externalUrl: HttpUrl,
  loadBalancer: z.strictObject({ mode: z.enum(['l4', 'l7-tls-offload']) }),
  installDir: HostPath.default('/opt/harbor'),
  dataVolume: HostPath.optional().describe("Harbor's data_volume on the host (default /data)."),
  tls: z
    .strictObject({ certificate: HostPath, privateKey: HostPath })
    .optional()
    .describe('Certificate and key paths on the Harbor host, for loadBalancer mode l4 (Harbor terminates TLS).'),
  adminPassword: SecretRef,
  database: z.strictObject({
    host: Host,
    port: Port.default(5432),
    dbName: z.string().min(1),
    username: z.string().min(1),
    password: SecretRef,
    sslMode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).default('disable'),
    maxIdleConns: z.int().min(0).optional(),
    maxOpenConns: z.int().min(0).optional(),
    connMaxLifetime: Duration.optional(),
    connMaxIdleTime: Duration.optional(),
  }),
  redis: z.strictObject({
    host: HostPortList.describe('host:port, or sentinel hosts separated by commas.'),
    username: z.string().optional(),
    password: SecretRef.optional(),
    sentinelMasterSet: z.string().optional(),
    registryDbIndex: z.int().min(1).optional(),
    jobserviceDbIndex: z.int().min(1).optional(),
    trivyDbIndex: z.int().min(1).optional(),
    harborDbIndex: z.int().min(1).optional(),
    cacheLayerDbIndex: z.int().min(1).optional(),
    idleTimeoutSeconds: z.int().min(0).optional(),
  }),
  storage: z.strictObject({
    s3: HarborS3.optional(),
    filesystem: z.strictObject({ rootdirectory: RegistryPath }).optional(),
    redirect: z.strictObject({ disable: z.boolean() }).optional(),
  }),
  metrics: z
    .strictObject({
      enabled: z.boolean(),
      port: Port.default(9090),
      path: z
        .string()
        .regex(/^\/\S*$/, { error: 'must be a URL path such as /metrics' })
        .default('/metrics'),
    })
    .optional(),
  endpoints: z.array(HarborEndpoint).default([]).describe('Registry endpoints besides the other core (created from replication rules).'),
  projects: z.array(HarborProject).default([]),
  robots: z.array(HarborRobot).default([]),
  replication: z.array(ReplicationRule).default([]),
});

export type HarborInstance = z.infer<typeof HarborInstance>;
