// What Harbor 2.15's API refuses in a request mirrornet sends, checked the way Harbor's code checks it and
// answered in Harbor's words: the handlers under src/server/v2.0/handler, the controllers and models they
// call (src/controller, src/pkg, src/lib) and the column sizes of Harbor's PostgreSQL schema
// (make/migrations/postgresql). One implementation for three readers: the validator's rules (a repository
// value Harbor would refuse), the harbor-api provider (every request body checked before the first create
// call) and the Harbor emulator (which refuses what Harbor refuses, with Harbor's status and message).
// Each limit names its inventory entry in harbor-api.ts; the statuses follow src/lib/http/error.go.
import { harborCronRefusal } from './harbor-cron.js';

export { harborCronRefusal };

/** Harbor's answer to a refused request: HTTP status, error code and message of `{"errors":[{code,message}]}`. */
export interface HarborRefusal {
  status: number;
  code: string;
  message: string;
}

/** Limits of Harbor v2.15.2, each from the upstream file its inventory entry names. */
export const HARBOR_LIMITS = {
  /** swagger ProjectReq.project_name maxLength, pkg/project manager.go projectNameMaxLen. */
  projectName: 255,
  /** controller/registry controller.go validate. */
  registryName: 64,
  /** registry.url varchar(256) (0004_1.8.0_schema.up.sql). */
  registryUrl: 256,
  /** registry.access_key varchar(255) (0001_initial_schema.up.sql, renamed in 0004). */
  accessKey: 255,
  /** robot.name varchar(255), robot.description varchar(1024) (0004_1.8.0_schema.up.sql). */
  robotName: 255,
  robotDescription: 1024,
  /** replication_policy.name varchar(256), dest_namespace varchar(256), filters varchar(1024), trigger varchar(256). */
  policyName: 256,
  destNamespace: 256,
  filtersJson: 1024,
  triggerJson: 256,
  /** pkg/quota/types MaxLimitedValue: 1024 TB. */
  storage: 1125899906842624,
  /** handler/robot.go isValidDuration: d < math.MaxInt32. */
  robotDuration: 2147483646,
  /** swagger ReplicationPolicy.speed format int32. */
  speed: 2147483647,
} as const;

/** Harbor's project and robot names (pkg/project manager.go restrictedNameChars, handler/robot.go validateName). */
export const HARBOR_NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * distribution v2.8 reference.NameRegexp (lib.RepositoryNameRe), written without its ambiguous empty
 * separator (`[-]*` may match nothing, which only joins two alphanumeric runs): the same language, without
 * catastrophic backtracking.
 */
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const REPOSITORY_NAME_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);

/** Registry types Harbor 2.15 has an adapter for (pkg/reg/model registry.go, the adapters pkg/reg/manager.go imports). */
export const HARBOR_REGISTRY_TYPES = [
  'harbor',
  'docker-hub',
  'docker-registry',
  'huawei-SWR',
  'google-gcr',
  'aws-ecr',
  'azure-acr',
  'ali-acr',
  'jfrog-artifactory',
  'quay',
  'gitlab',
  'dtr',
  'tencent-tcr',
  'github-ghcr',
  'volcengine-cr',
] as const;

/** PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE as Harbor's installer sets it (make/photon/prepare/templates/core/env.jinja). */
export const HARBOR_PROXY_CACHE_TYPES = [
  'docker-hub',
  'harbor',
  'azure-acr',
  'ali-acr',
  'aws-ecr',
  'google-gcr',
  'docker-registry',
  'github-ghcr',
  'jfrog-artifactory',
] as const;

/** The project-scope `resource:action` pairs a robot may be granted (common/rbac/const.go, NolimitProvider). */
export const HARBOR_PROJECT_ROBOT_ACCESS: ReadonlySet<string> = new Set([
  'log:list',
  ...['read', 'delete', 'update'].map((a) => `project:${a}`),
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `metadata:${a}`),
  ...['read', 'update', 'delete', 'list', 'pull', 'push'].map((a) => `repository:${a}`),
  ...['read', 'create', 'list', 'delete'].map((a) => `artifact:${a}`),
  ...['create', 'read', 'stop'].map((a) => `scan:${a}`),
  ...['create', 'stop', 'read'].map((a) => `sbom:${a}`),
  ...['create', 'list', 'delete'].map((a) => `tag:${a}`),
  'accessory:list',
  'artifact-addition:read',
  ...['create', 'delete'].map((a) => `artifact-label:${a}`),
  ...['create', 'read'].map((a) => `scanner:${a}`),
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `preheat-policy:${a}`),
  ...['create', 'delete', 'list', 'update'].map((a) => `immutable-tag:${a}`),
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `notification-policy:${a}`),
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `tag-retention:${a}`),
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `label:${a}`),
  'quota:read',
  ...['create', 'read', 'list', 'delete'].map((a) => `robot:${a}`),
  ...['create', 'read'].map((a) => `export-cve:${a}`),
  ...['create', 'read', 'update', 'list', 'delete'].map((a) => `member:${a}`),
]);

/** The system-scope pairs (PoliciesMap[ScopeSystem] and NolimitProvider's additions). */
const HARBOR_SYSTEM_ROBOT_ACCESS: ReadonlySet<string> = new Set([
  'audit-log:list',
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `preheat-instance:${a}`),
  ...['list', 'create'].map((a) => `project:${a}`),
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `replication-policy:${a}`),
  ...['read', 'create', 'list'].map((a) => `replication:${a}`),
  'replication-adapter:list',
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `registry:${a}`),
  ...['read', 'update', 'stop', 'create'].map((a) => `scan-all:${a}`),
  'system-volumes:read',
  ...['read', 'create', 'list', 'update', 'stop'].map((a) => `garbage-collection:${a}`),
  ...['read', 'create', 'list', 'update', 'stop'].map((a) => `purge-audit:${a}`),
  ...['list', 'stop'].map((a) => `jobservice-monitor:${a}`),
  ...['read', 'create', 'delete', 'list', 'update'].map((a) => `scanner:${a}`),
  ...['read', 'create', 'delete', 'update'].map((a) => `label:${a}`),
  ...['read', 'list'].map((a) => `security-hub:${a}`),
  'catalog:read',
  ...['read', 'list', 'update'].map((a) => `quota:${a}`),
  ...['create', 'read', 'list', 'delete'].map((a) => `robot:${a}`),
  ...['create', 'read', 'update', 'list', 'delete'].map((a) => `user:${a}`),
  ...['create', 'list'].map((a) => `ldap-user:${a}`),
  ...['create', 'read', 'update', 'list', 'delete'].map((a) => `user-group:${a}`),
]);

const badRequest = (message: string): HarborRefusal => ({ status: 400, code: 'BAD_REQUEST', message });
/** What go-swagger's binding answers (lib/http/error.go turns the openapi error into Harbor's body). */
export const unprocessable = (message: string): HarborRefusal => ({
  status: 422,
  code: 'UNPROCESSABLE_ENTITY',
  message: `validation failure list:\n${message}`,
});
/** A value longer than its PostgreSQL column: the insert fails and Harbor hides the error behind a 500. */
const internal: HarborRefusal = { status: 500, code: 'UNKNOWN', message: 'internal server error' };

/** Go's len(): UTF-8 bytes. PostgreSQL's varchar(n) counts characters. */
const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
const chars = (s: string): number => [...s].length;

/** lib.ValidateQuotaLimit (and the project quota driver): -1, or 1 byte .. 1024 TB. */
export function quotaLimitError(v: number): string | undefined {
  if (v <= 0) return v === -1 ? undefined : `invalid non-positive value for quota limit, value=${v}`;
  if (v > HARBOR_LIMITS.storage) return `exceeded 1024TB, which is 1125899906842624 Bytes, value=${v}`;
  return undefined;
}

/** controller/robot model.go IsValidSec: 8-128 bytes with a lower case letter, an upper case letter and a digit. */
export function robotSecretOk(s: string): boolean {
  return bytes(s) >= 8 && bytes(s) <= 128 && /[a-z]/.test(s) && /[A-Z]/.test(s) && /\d/.test(s);
}

const ROBOT_SECRET_RULE = 'the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number';

/** handler/robot.go isValidDuration: -1 (never expires) or 1 .. MaxInt32-1 days. */
export function robotDurationOk(d: number): boolean {
  return d === -1 || (d > 0 && d <= HARBOR_LIMITS.robotDuration);
}

/** The distribution repository path Harbor takes as a destination namespace (controller/replication/model Validate). */
export function repositoryNameOk(s: string): boolean {
  return REPOSITORY_NAME_RE.test(s);
}

/** Go's json.Marshal: HTML characters and line separators escaped as \u00XX. */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface FilterInput {
  type?: string | undefined;
  value?: unknown;
  decoration?: string | undefined;
}

/** pkg/reg/model policy.go Filter.Validate. */
export function filterError(f: FilterInput): string | undefined {
  const type = f.type ?? '';
  const decoration = f.decoration ?? '';
  if (type === 'resource' || type === 'name' || type === 'tag') {
    if (typeof f.value !== 'string') return "the type of filter value isn't string";
    if (type === 'resource' && f.value !== 'artifact' && f.value !== 'image') return `invalid resource filter: ${f.value}`;
    if ((type === 'name' || type === 'resource') && decoration !== '') return 'only tag and label filter support decoration';
  } else if (type === 'label') {
    if (!Array.isArray(f.value) || !f.value.every((v) => typeof v === 'string')) return "the type of label filter value isn't string slice";
  } else return 'invalid filter type';
  if (decoration !== '' && decoration !== 'matches' && decoration !== 'excludes') return `invalid filter decoration, :${decoration}`;
  return undefined;
}

/**
 * lib.ValidateHTTPURL: trimmed of spaces and trailing slashes, `http://` added without a scheme, and only
 * scheme://host/path kept (user info, query and fragment are dropped; Go's url.Path is the unescaped path).
 */
export function harborHttpUrl(raw: string): { url: string } | { refusal: HarborRefusal } {
  let s = raw.replace(/^ +| +$/g, '').replace(/\/+$/, '');
  if (!s) return { refusal: badRequest('empty string') };
  if (!s.includes('://')) s = `http://${s}`;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/.exec(s);
  let path: string | undefined;
  try {
    path = m ? decodeURIComponent(m[3]!) : undefined;
  } catch {
    path = undefined;
  }
  if (!m || path === undefined || /\s/.test(s) || [...s].some((ch) => ch.charCodeAt(0) < 0x20))
    return { refusal: badRequest(`invalid URL: parse ${JSON.stringify(s)}: invalid URL`) };
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return { refusal: badRequest(`invalid HTTP scheme: ${scheme}`) };
  return { url: `${scheme}://${m[2]!.replace(/^.*@/, '')}${path}` };
}

// ---- Requests, field by field, in the order Harbor's handlers check them ------------------------------

/** handler/project.go CreateProject: metadata.public is "true" or "false". */
export function projectPublicRefusal(pub: string): HarborRefusal | undefined {
  return pub === 'true' || pub === 'false' ? undefined : badRequest(`metadata.public should only be 'true' or 'false', but got: '${pub}'`);
}

/** handler/project.go validateProjectReq: a proxy cache's registry_id is > 0. */
export function projectRegistryIdRefusal(id: number): HarborRefusal | undefined {
  return id > 0 ? undefined : badRequest(`bad request: ${id} is invalid value of registry_id, it should be geater than 0`);
}

/** handler/project.go validateProjectReq -> quota.Validate: the storage limit (0 never reaches it: it means the default). */
export function projectStorageRefusal(limit: number): HarborRefusal | undefined {
  const e = quotaLimitError(limit);
  return e ? badRequest(`bad request: ${e}`) : undefined;
}

/** pkg/project manager.go Create (after the swagger maxLength of 255 characters, answered 422). */
export function projectNameRefusal(name: string): HarborRefusal | undefined {
  if (chars(name) > HARBOR_LIMITS.projectName) return unprocessable('project_name in body should be at most 255 chars long');
  if (bytes(name) < 1 || bytes(name) > HARBOR_LIMITS.projectName)
    return badRequest(`Project name ${name} is illegal in length. (greater than 255 or less than 1)`);
  if (!HARBOR_NAME_RE.test(name)) return badRequest('project name is not in lower case or contains illegal characters');
  return undefined;
}

/** handler/quota.go UpdateQuota: `hard` with exactly the storage resource, a valid limit. */
export function quotaHardRefusal(hard: Record<string, number> | null | undefined): HarborRefusal | undefined {
  if (!hard || Object.keys(hard).length === 0) return badRequest('hard required in body');
  for (const [k, v] of Object.entries(hard)) {
    if (k !== 'storage') return badRequest(`resource ${k} not support`);
    const e = quotaLimitError(v);
    if (e) return badRequest(e);
  }
  return undefined;
}

export interface RegistryInput {
  name: string;
  url: string;
  type: string;
}

/**
 * controller/registry controller.go validate, up to the health check: name, URL (normalized), adapter type
 * (an unknown type fails in adp.GetFactory with a plain error: 500).
 */
export function registryRefusal(r: RegistryInput): { url: string } | { refusal: HarborRefusal } {
  if (r.name.length === 0) return { refusal: badRequest('name cannot be empty') };
  if (bytes(r.name) > HARBOR_LIMITS.registryName) return { refusal: badRequest('the max length of name is 64') };
  const u = harborHttpUrl(r.url);
  if ('refusal' in u) return u;
  if (!(HARBOR_REGISTRY_TYPES as readonly string[]).includes(r.type)) return { refusal: internal };
  return u;
}

/** The registry row, after the health check: url varchar(256) (normalized), access_key varchar(255). */
export function registryStoredRefusal(url: string, accessKey: string | undefined): HarborRefusal | undefined {
  return chars(url) > HARBOR_LIMITS.registryUrl || chars(accessKey ?? '') > HARBOR_LIMITS.accessKey ? internal : undefined;
}

export interface RobotPermissionInput {
  kind?: string | undefined;
  namespace?: string | undefined;
  access?: { resource?: string | undefined; action?: string | undefined }[] | null | undefined;
}

/** handler/robot.go validateName (create only). */
export function robotNameRefusal(name: string): HarborRefusal | undefined {
  return HARBOR_NAME_RE.test(name) ? undefined : badRequest('robot name is not in lower case or contains illegal characters');
}

/** handler/robot.go validate: duration, level, permissions and every access against the permission provider. */
export function robotValidateRefusal(
  duration: number,
  level: string,
  permissions: readonly RobotPermissionInput[] | null | undefined,
): HarborRefusal | undefined {
  if (!robotDurationOk(duration)) return badRequest(`bad request error duration input: ${duration}, duration must be either -1(Never) or a positive integer`);
  if (level !== 'system' && level !== 'project') return badRequest(`bad request error level input: ${level}`);
  if (!permissions || permissions.length === 0) return badRequest('bad request empty permission');
  for (const p of permissions) if (!p.access || p.access.length === 0) return badRequest('bad request empty access');
  if (level === 'project' && permissions.length > 1) return badRequest('bad request permission');
  for (const p of permissions) {
    if (p.kind !== 'project' && p.kind !== 'system') return badRequest(`bad request permission level: ${p.kind ?? ''}`);
    for (const a of p.access ?? []) {
      const pair = `${a.resource ?? ''}:${a.action ?? ''}`;
      const allowed = p.kind === 'project' ? HARBOR_PROJECT_ROBOT_ACCESS : HARBOR_SYSTEM_ROBOT_ACCESS;
      if (!allowed.has(pair)) return badRequest(`bad request permission: ${pair}`);
    }
  }
  return undefined;
}

/** The robot row: name varchar(255), description varchar(1024). */
export function robotStoredRefusal(name: string, description: string): HarborRefusal | undefined {
  return chars(name) > HARBOR_LIMITS.robotName || chars(description) > HARBOR_LIMITS.robotDescription ? internal : undefined;
}

/** handler/robot.go RefreshSec: a pinned secret must pass IsValidSec. */
export function robotSecretRefusal(secret: string): HarborRefusal | undefined {
  return robotSecretOk(secret) ? undefined : badRequest(ROBOT_SECRET_RULE);
}

export interface PolicyInput {
  name?: string | undefined;
  srcRegistryId?: number | undefined;
  destRegistryId?: number | undefined;
  destNamespace?: string | undefined;
  filters?: readonly FilterInput[] | null | undefined;
  trigger?: { type?: string | undefined; cron?: string | undefined } | null | undefined;
}

/** go-swagger's binding of ReplicationPolicy.speed (int32): a larger number does not decode (400). */
export function policySpeedRefusal(speed: number, param = 'policy'): HarborRefusal | undefined {
  if (speed >= -2147483648 && speed <= HARBOR_LIMITS.speed) return undefined;
  return badRequest(
    `parsing ${param} body from "" failed, because json: cannot unmarshal number ${speed} into Go struct field ReplicationPolicy.speed of type int32`,
  );
}

/** controller/replication/model model.go Policy.Validate, in its order. */
export function policyValidateRefusal(p: PolicyInput): HarborRefusal | undefined {
  if (!p.name) return badRequest('empty name');
  const src = p.srcRegistryId ?? 0;
  const dst = p.destRegistryId ?? 0;
  if ((src !== 0 && dst !== 0) || (src === 0 && dst === 0))
    return badRequest("either src_registry or dest_registry should be empty and the other one shouldn't be empty");
  for (const f of p.filters ?? []) {
    const e = filterError(f);
    if (e) return badRequest(e);
  }
  if (p.destNamespace && !repositoryNameOk(p.destNamespace)) return badRequest(`invalid destination namespace: ${p.destNamespace}`);
  if (p.trigger) {
    const type = p.trigger.type ?? '';
    if (type === 'scheduled') {
      const e = harborCronRefusal(p.trigger.cron ?? '');
      if (e) return badRequest(e);
    } else if (type !== 'manual' && type !== 'event_based') return badRequest('invalid trigger type');
  }
  return undefined;
}

/** The replication_policy row: the JSON Harbor stores for filters and trigger, the name and namespace columns. */
export function policyStoredRefusal(p: PolicyInput): HarborRefusal | undefined {
  const filters = (p.filters ?? []).map((f) => ({ type: f.type ?? '', value: f.value ?? null, ...(f.decoration ? { decoration: f.decoration } : {}) }));
  const trigger = p.trigger ? { type: p.trigger.type ?? '', trigger_settings: p.trigger.cron === undefined ? null : { cron: p.trigger.cron } } : undefined;
  if (chars(p.name ?? '') > HARBOR_LIMITS.policyName || chars(p.destNamespace ?? '') > HARBOR_LIMITS.destNamespace) return internal;
  if (filters.length && chars(goJson(filters)) > HARBOR_LIMITS.filtersJson) return internal;
  if (trigger && chars(goJson(trigger)) > HARBOR_LIMITS.triggerJson) return internal;
  return undefined;
}
