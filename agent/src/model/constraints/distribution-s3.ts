// The constraint inventory of storage_service.s3 in harbor.yml: Harbor 2.15's prepare copies the keys into the
// registry's config.yml (storage.s3.<key>, harbor-prepare.ts says how), where the S3 driver of the registry
// Harbor ships reads them: FromParameters and New in registry/storage/driver/s3-aws/s3.go. Harbor v2.15.2 builds
// that registry from goharbor/distribution tag v2.8.3-harbor.1 (Makefile REGISTRY_SRC_TAG); the stored snapshot
// has no such tag, but its release/2.8 branch (what the tag is cut from) and v2.8.3 have the same s3-aws driver
// and the same vendored aws-sdk-go 1.15.11, whose endpoint tables decide which regions need no regionendpoint.
import type { Constraint, Upstream } from './types.js';

const S3_GO: Upstream = { repo: 'goharbor/distribution', path: 'registry/storage/driver/s3-aws/s3.go', ref: 'v2.8.3', at: 'FromParameters, New' };
const S3_GO_AT = (at: string): Upstream => ({ ...S3_GO, at });
const AWS_ENDPOINTS: Upstream = { repo: 'goharbor/distribution', path: 'vendor/github.com/aws/aws-sdk-go/aws/endpoints/defaults.go', ref: 'v2.8.3' };
const AWS_SESSION: Upstream = {
  repo: 'goharbor/distribution',
  path: 'vendor/github.com/aws/aws-sdk-go/aws/session/session.go',
  ref: 'v2.8.3',
  at: 'resolveEndpoint: endpoints.AddScheme adds a scheme only when the endpoint has none',
};
const HARBOR_MAKEFILE: Upstream = { repo: 'goharbor/harbor', path: 'Makefile', ref: 'v2.15.2', at: 'REGISTRY_SRC_TAG=v2.8.3-harbor.1' };
const PREPARE_COPY: Upstream = { repo: 'goharbor/harbor', path: 'make/photon/prepare/utils/registry.py', ref: 'v2.15.2', at: 'get_storage_provider_info' };

/** The driver's minChunkSize and maxChunkSize: S3's multipart part size limits. */
const S3_MIN_CHUNK = 5 * 1024 * 1024;
const S3_MAX_CHUNK = 5 * 1024 * 1024 * 1024;

/** Ranges the driver checks (getParameterAsInt64), inclusive, and its defaults. */
export const S3_SIZE_LIMITS = {
  chunksize: { min: S3_MIN_CHUNK, max: S3_MAX_CHUNK, default: 2 * S3_MIN_CHUNK },
  multipartcopychunksize: { min: S3_MIN_CHUNK, max: S3_MAX_CHUNK, default: 32 * 1024 * 1024 },
  multipartcopymaxconcurrency: { min: 1, max: Number.MAX_SAFE_INTEGER, default: 100 },
  multipartcopythresholdsize: { min: 0, max: S3_MAX_CHUNK, default: 32 * 1024 * 1024 },
} as const;

/** The regions of aws-sdk-go 1.15.11's partitions (aws, aws-cn, aws-us-gov): without regionendpoint, any other region is refused. */
export const S3_KNOWN_REGIONS: readonly string[] = [
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ca-central-1',
  'eu-central-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'sa-east-1',
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'cn-north-1',
  'cn-northwest-1',
  'us-gov-west-1',
];

/** Storage classes the driver accepts (compared in upper case); NONE sends none. */
export const S3_STORAGE_CLASSES: readonly string[] = ['STANDARD', 'REDUCED_REDUNDANCY', 'NONE'];

/** With v4auth false the driver refuses an empty regionendpoint and one that contains this. */
export const S3_AWS_ENDPOINT_MARK = 's3.amazonaws.com';

const e = (name: string, c: Omit<Constraint, 'consumer' | 'key' | 'from'>): Constraint => ({
  consumer: 'distribution-s3',
  key: `storage.s3.${name}`,
  from: [`HarborInstance.storage.s3.${name}`],
  ...c,
});

const BOOL = 'bool, or a string strconv.ParseBool reads; anything else is refused ("the <key> parameter should be a boolean")';

const size = (name: keyof typeof S3_SIZE_LIMITS, note?: string): Constraint => {
  const l = S3_SIZE_LIMITS[name];
  const max = l.max === Number.MAX_SAFE_INTEGER ? 'MaxInt64' : `${l.max}`;
  return e(name, {
    type: 'int64',
    syntax: 'an integer (a string is read with strconv.ParseInt base 0)',
    range: `${l.min}-${max} inclusive; outside, the driver refuses to start ("the ${name} ... parameter should be a number between ...")`,
    default: `${l.default}`,
    rule: 'harbor/s3-chunksize',
    ...(note ? { note } : {}),
    upstream: [S3_GO_AT('getParameterAsInt64'), PREPARE_COPY],
  });
};

const ONE_IS_TRUE =
  'Harbor\'s prepare writes the value 1 as `true` (Python: 1 == True), which the driver refuses ("invalid value for ...: true"): 1 cannot be used.';

export const DISTRIBUTION_S3: readonly Constraint[] = [
  e('accesskey', {
    type: 'string (secret)',
    default: "'': the AWS credential chain (environment, shared file, EC2 role)",
    note: 'Copied unquoted into config.yml by prepare: a value YAML reads differently breaks the registry (checked when it is applied, not validated).',
    upstream: [S3_GO, PREPARE_COPY],
  }),
  e('secretkey', { type: 'string (secret)', default: "''", note: 'Like accesskey.', upstream: [S3_GO, PREPARE_COPY] }),
  e('region', {
    type: 'string',
    range:
      `required ("no region parameter provided"); without regionendpoint one of the ${S3_KNOWN_REGIONS.length} regions aws-sdk-go 1.15.11 ` +
      'knows ("invalid region provided"); with it, any (the signing region)',
    default: 'none: required',
    rule: 'harbor/s3-driver',
    note: 'Newer AWS regions (ap-east-1, ap-southeast-3, eu-north-1, me-south-1, ...) need regionendpoint with this driver.',
    upstream: [S3_GO, AWS_ENDPOINTS, HARBOR_MAKEFILE],
  }),
  e('regionendpoint', {
    type: 'string (URL)',
    range: 'any; it forces path-style requests, and its scheme decides http or https (secure only adds a scheme when the endpoint has none)',
    default: "none: AWS's endpoint for the region",
    rule: 'harbor/s3-driver',
    note: 'harbor/s3-redirect warns about Huawei OBS, which no longer serves path-style requests for new buckets.',
    upstream: [S3_GO_AT('New'), AWS_SESSION],
  }),
  e('bucket', { type: 'string', range: 'required ("no bucket parameter provided")', default: 'none: required', upstream: [S3_GO] }),
  e('encrypt', {
    type: 'bool',
    syntax: BOOL,
    default: 'false',
    note: 'true asks for AES256, or aws:kms with keyid.',
    upstream: [S3_GO, S3_GO_AT('getEncryptionMode')],
  }),
  e('keyid', {
    type: 'string',
    requires: ['storage.s3.encrypt'],
    range: 'only with encrypt: true: the driver sends a non-empty keyid as the KMS key of every upload, but asks for encryption only when encrypt is true',
    default: "''",
    rule: 'harbor/s3-driver',
    upstream: [S3_GO_AT('getEncryptionMode, getSSEKMSKeyID')],
  }),
  e('secure', {
    type: 'bool',
    syntax: BOOL,
    default: 'true',
    range: 'no effect when regionendpoint names its scheme (always, in mirrornet): the endpoint decides',
    rule: 'harbor/s3-driver',
    upstream: [S3_GO_AT('New: WithDisableSSL(!secure)'), AWS_SESSION],
  }),
  e('skipverify', { type: 'bool', syntax: BOOL, default: 'false', upstream: [S3_GO] }),
  e('v4auth', {
    type: 'bool',
    syntax: BOOL,
    range: `false is refused without regionendpoint or with one containing ${S3_AWS_ENDPOINT_MARK} ("can only be used with v4 authentication")`,
    default: 'true',
    rule: 'harbor/s3-driver',
    upstream: [S3_GO_AT('New')],
  }),
  size('chunksize'),
  size('multipartcopychunksize'),
  size('multipartcopymaxconcurrency', ONE_IS_TRUE),
  size('multipartcopythresholdsize', ONE_IS_TRUE),
  e('rootdirectory', {
    type: 'string',
    range: 'any; leading and trailing / are trimmed from object keys',
    default: "'' (the bucket's root)",
    rule: 'harbor/storage-verbatim',
    note: 'Copied unquoted into config.yml by prepare: it must read back as the same string.',
    upstream: [S3_GO_AT('s3Path'), PREPARE_COPY],
  }),
  e('storageclass', {
    type: 'string',
    range: `${S3_STORAGE_CLASSES.join(', ')} (any case); anything else is refused at start`,
    default: 'STANDARD',
    rule: 'harbor/s3-driver',
    upstream: [S3_GO],
  }),
];
