// The Harbor emulator's objects and the rules Harbor v2.15 applies to them, without HTTP: every operation
// either changes the state or throws a HarborFault with Harbor's status, error code and message. Harbor's
// own field checks are the ones the validator and the provider use (model/constraints/harbor-api-checks.ts).
import { createHash, randomBytes } from 'node:crypto';
import {
  harborHttpUrl,
  robotSecretOk,
  robotValidateRefusal,
  type HarborRefusal,
  type RobotPermissionInput,
} from '../../../model/constraints/harbor-api-checks.js';
import type { EmulatorState, PolicyRec, ProjectRec, RegistryRec, RobotPermission, RobotRec } from './schema.js';

// Not a MirrornetError: the stand-in's own HTTP answer (Harbor's status, code, message), thrown to its handler; no user sees it as ours.
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

/** A refusal of Harbor's own checks (model/constraints/harbor-api-checks.ts) as the fault the API answers with. */
export const refused = (r: HarborRefusal): HarborFault => new HarborFault(r.status, r.code, r.message);

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

/** Harbor's lib.ValidateHTTPURL: the normalized URL, or Harbor's 400. */
export function validateHttpUrl(raw: string): string {
  const u = harborHttpUrl(raw);
  if ('refusal' in u) throw refused(u.refusal);
  return u.url;
}

export function randomRobotSecret(): string {
  for (;;) {
    const s = randomBytes(24)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, '')
      .slice(0, 32);
    if (robotSecretOk(s)) return s;
  }
}

export function hashSecret(secret: string, salt: string): string {
  return createHash('sha256').update(`${salt}:${secret}`).digest('hex');
}

export interface PermissionInput extends RobotPermissionInput {
  access?: { resource?: string | undefined; action?: string | undefined; effect?: string | undefined }[] | null | undefined;
}

/** Harbor's robot validation (handler `validate`, then controller `toScope` for each permission). */
export function validateRobotPermissions(
  state: EmulatorState,
  level: string | undefined,
  duration: number,
  permissions: PermissionInput[] | null | undefined,
): RobotPermission[] {
  const r = robotValidateRefusal(duration, level ?? '', permissions);
  if (r) throw refused(r);
  return (permissions ?? []).map((p) => {
    if (p.kind === 'system') {
      if (p.namespace !== '/') throw badRequest('unknown namespace');
    } else if (p.namespace !== '*' && !state.projects.some((x) => x.name === p.namespace)) throw notFound(`project ${p.namespace ?? ''} not found`);
    return {
      kind: p.kind!,
      namespace: p.namespace!,
      access: (p.access ?? []).map((a) => ({ resource: a.resource ?? '', action: a.action ?? '', ...(a.effect ? { effect: a.effect } : {}) })),
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
