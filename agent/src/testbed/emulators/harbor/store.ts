// The Harbor emulator's objects and the rules Harbor v2.15 applies to them, without HTTP: every operation
// either changes the state or throws a HarborFault with Harbor's status, error code and message.
import { createHash, randomBytes } from 'node:crypto';
import type { EmulatorState, PolicyRec, ProjectRec, RegistryRec, RobotPermission, RobotRec } from './schema.js';

export class HarborFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HarborFault';
  }
}

export const badRequest = (m: string) => new HarborFault(400, 'BAD_REQUEST', m);
export const notFound = (m: string) => new HarborFault(404, 'NOT_FOUND', m);
export const conflict = (m: string) => new HarborFault(409, 'CONFLICT', m);
export const precondition = (m: string) => new HarborFault(412, 'PRECONDITION', m);
export const forbidden = (m = 'forbidden') => new HarborFault(403, 'FORBIDDEN', m);

/** Harbor's names for projects and robots. */
export const NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Registry types Harbor 2.15 has adapters for. */
export const REGISTRY_TYPES = [
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

/** Registry types a proxy-cache project may reference. */
export const PROXY_CACHE_TYPES = ['docker-hub', 'harbor', 'azure-acr', 'aws-ecr', 'google-gcr', 'quay', 'docker-registry', 'github-ghcr', 'jfrog-artifactory'];

export const METADATA_KEYS = [
  'public',
  'enable_content_trust',
  'enable_content_trust_cosign',
  'prevent_vul',
  'severity',
  'auto_scan',
  'auto_sbom_generation',
  'reuse_sys_cve_allowlist',
  'retention_id',
  'proxy_speed_kb',
  'max_upstream_conn',
  'proxy_cache_local_on_not_found',
] as const;

export function emptyState(): EmulatorState {
  return {
    version: 1,
    nextId: { project: 1, quota: 1, registry: 1, policy: 1, robot: 1, execution: 1 },
    projects: [],
    quotas: [],
    registries: [],
    policies: [],
    robots: [],
    executions: [],
  };
}

/** The state of a fresh Harbor: it ships the public project `library` (id 1) with an unlimited quota. */
export function freshHarborState(now: string): EmulatorState {
  const s = emptyState();
  s.nextId.project = 2;
  s.nextId.quota = 2;
  s.projects.push({
    project_id: 1,
    name: 'library',
    owner_id: 1,
    owner_name: 'admin',
    registry_id: 0,
    repo_count: 0,
    metadata: { public: 'true' },
    creation_time: now,
    update_time: now,
  });
  s.quotas.push({ id: 1, project_id: 1, hard: { storage: -1 }, used: { storage: 0 }, creation_time: now, update_time: now });
  return s;
}

/** Harbor's lib.ValidateHTTPURL: trims, adds http:// when there is no scheme, keeps scheme://host/path. */
export function validateHttpUrl(raw: string): string {
  let s = raw.trim().replace(/\/+$/, '');
  if (!s) throw badRequest('empty string');
  if (!s.includes('://')) s = `http://${s}`;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw badRequest(`malformed URL: ${raw}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw badRequest(`invalid HTTP scheme: ${u.protocol.replace(/:$/, '')}`);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

/** Harbor's robot secret rule (RefreshSec): at least 8 characters with a lower, an upper case letter and a digit. */
export function isValidRobotSecret(s: string): boolean {
  return s.length >= 8 && s.length <= 128 && /[a-z]/.test(s) && /[A-Z]/.test(s) && /\d/.test(s);
}

export function randomRobotSecret(): string {
  for (;;) {
    const s = randomBytes(24)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, '')
      .slice(0, 32);
    if (isValidRobotSecret(s)) return s;
  }
}

export function hashSecret(secret: string, salt: string): string {
  return createHash('sha256').update(`${salt}:${secret}`).digest('hex');
}

/**
 * Harbor's replication cron: six fields (seconds first) that robfig/cron parses, the seconds field a fixed
 * `0`, and (in the policy validation of recent releases) no `*` in the minutes field.
 */
export function replicationCronProblem(cron: string): string | undefined {
  if (!cron) return `the cron string cannot be empty when the trigger type is scheduled`;
  const parts = cron.split(' ');
  const fieldOk = (f: string, min: number, max: number, names = false): boolean => {
    if (f === '*' || f === '?') return true;
    return f.split(',').every((item) => {
      const [range, step] = item.split('/');
      if (step !== undefined && !/^\d+$/.test(step)) return false;
      if (range === '*') return step !== undefined;
      const ends = (range ?? '').split('-');
      if (ends.length > 2) return false;
      return ends.every((e) => (/^\d+$/.test(e) ? Number(e) >= min && Number(e) <= max : names && /^[A-Za-z]{3}$/.test(e)));
    });
  };
  const bounds: [number, number, boolean][] = [
    [0, 59, false],
    [0, 59, false],
    [0, 23, false],
    [1, 31, false],
    [1, 12, true],
    [0, 6, true],
  ];
  if (parts.length !== 6 || !parts.every((p, i) => fieldOk(p, bounds[i]![0], bounds[i]![1], bounds[i]![2]))) {
    return `invalid cron string for scheduled trigger: ${cron}`;
  }
  if (parts[0] !== '0') return `invalid cron string for scheduled trigger: ${cron}, the 1st field (indicating Seconds of time) of the cron setting must be 0`;
  if (parts[1] === '*')
    return `invalid cron string for scheduled trigger: ${cron}, * is not allowed for the Minutes field of the cron setting of replication policy`;
  return undefined;
}

function robotLevelOk(level: string | undefined): level is 'system' | 'project' {
  return level === 'system' || level === 'project';
}

export interface PermissionInput {
  kind?: string | undefined;
  namespace?: string | undefined;
  access?: { resource?: string | undefined; action?: string | undefined; effect?: string | undefined }[] | null | undefined;
}

/** Harbor's robot validation (handler `validate` + controller `toScope`). */
export function validateRobotPermissions(
  state: EmulatorState,
  level: string | undefined,
  duration: number | null | undefined,
  permissions: PermissionInput[] | null | undefined,
): RobotPermission[] {
  const d = duration ?? 0;
  if (d < -1 || d >= 2 ** 31 - 1) throw badRequest(`bad request error duration input: ${d}`);
  if (!robotLevelOk(level)) throw badRequest(`bad request error level input: ${level ?? ''}`);
  if (!permissions || permissions.length === 0) throw badRequest('bad request empty permission');
  for (const p of permissions) if (!p.access || p.access.length === 0) throw badRequest('bad request empty access');
  if (level === 'project' && permissions.length > 1) throw badRequest('bad request permission');
  return permissions.map((p) => {
    if (p.kind === 'system') {
      if (p.namespace !== '/') throw badRequest('unknown namespace');
    } else if (p.kind === 'project') {
      if (p.namespace !== '*' && !state.projects.some((x) => x.name === p.namespace)) throw notFound(`project ${p.namespace ?? ''} not found`);
    } else throw badRequest('unknown robot kind');
    return {
      kind: p.kind,
      namespace: p.namespace!,
      access: (p.access ?? []).map((a) => {
        if (!a.resource || !a.action) throw badRequest('bad request: every access needs a resource and an action');
        return { resource: a.resource, action: a.action, ...(a.effect ? { effect: a.effect } : {}) };
      }),
    };
  });
}

export function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, '.000Z');
}

export function findProject(state: EmulatorState, nameOrId: string, isName: boolean): ProjectRec | undefined {
  if (!isName && /^\d+$/.test(nameOrId)) return state.projects.find((p) => p.project_id === Number(nameOrId));
  return state.projects.find((p) => p.name === nameOrId);
}

export function registryOrFail(state: EmulatorState, id: number): RegistryRec {
  const r = state.registries.find((x) => x.id === id);
  if (!r) throw notFound(`registry ${id} not found`);
  return r;
}

export function policyOrFail(state: EmulatorState, id: number): PolicyRec {
  const p = state.policies.find((x) => x.id === id);
  if (!p) throw notFound(`replication policy ${id} not found`);
  return p;
}

export function robotOrFail(state: EmulatorState, id: number): RobotRec {
  const r = state.robots.find((x) => x.id === id);
  if (!r) throw notFound(`robot ${id} not found`);
  return r;
}

export function validStorageLimit(v: number): boolean {
  return v === -1 || v > 0;
}
