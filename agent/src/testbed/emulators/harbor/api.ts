// The Harbor v2.15 REST API (`/api/v2.0`) of the emulator: routing, request validation, the JSON shapes of
// the swagger `definitions`, pagination (`page`, `page_size`, `X-Total-Count`, `Link`) and Harbor's error
// bodies. Authentication and the HTTP server live in index.ts.
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import {
  ProjectReqBody,
  QuotaUpdateBody,
  RegistryBody,
  RegistryUpdateBody,
  ReplicationPolicyBody,
  RobotCreateBody,
  RobotSecBody,
  RobotUpdateBody,
  StartExecutionBody,
  type EmulatorState,
  type ExecutionRec,
  type PolicyRec,
  type ProjectRec,
  type QuotaRec,
  type RegistryRec,
  type RobotRec,
} from './schema.js';
import {
  HarborFault,
  METADATA_KEYS,
  NAME_RE,
  PROXY_CACHE_TYPES,
  REGISTRY_TYPES,
  badRequest,
  conflict,
  findProject,
  forbidden,
  hashSecret,
  isValidRobotSecret,
  iso,
  notFound,
  policyOrFail,
  precondition,
  randomRobotSecret,
  registryOrFail,
  replicationCronProblem,
  robotOrFail,
  validStorageLimit,
  validateHttpUrl,
  validateRobotPermissions,
} from './store.js';

export const API_BASE = '/api/v2.0';

export type Principal = { kind: 'anonymous' } | { kind: 'admin'; username: string } | { kind: 'robot'; robot: RobotRec };

export interface RegistryCheck {
  type: string;
  insecure: boolean;
  credential?: { type: string; access_key: string; access_secret: string } | undefined;
}

/** Whether a remote registry answers (Harbor pings it on create and update). */
export type RemoteCheck = (url: string, registry: RegistryCheck) => Promise<boolean>;

export interface ExecutionResult {
  status?: 'Succeed' | 'Failed' | 'Stopped';
  statusText?: string;
  total?: number;
  succeed?: number;
  failed?: number;
}

export interface ApiEnv {
  state: EmulatorState;
  now(): Date;
  version: string;
  externalUrl: string;
  robotPrefix: string;
  remoteCheck: RemoteCheck;
  /** Runs a replication execution; the emulator records its result. */
  runExecution(policy: PolicyRec, execution: ExecutionRec): void;
}

export interface ApiRequest {
  method: string;
  /** Path below /api/v2.0, e.g. `/projects/library`. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  principal: Principal;
}

export interface Reply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
  /** Whether the state changed (the emulator persists it). */
  mutated?: boolean;
}

const ok = (body?: unknown, headers?: Record<string, string>): Reply => ({
  status: 200,
  ...(body !== undefined ? { body } : {}),
  ...(headers ? { headers } : {}),
});
const created = (location: string, body?: unknown): Reply => ({
  status: 201,
  headers: { Location: location },
  mutated: true,
  ...(body !== undefined ? { body } : {}),
});
const done = (): Reply => ({ status: 200, mutated: true });

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined) throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', 'validation failure list:\nbody in body is required');
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'body';
    throw badRequest(`parsing body body from "" failed, because ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

function requireAdmin(p: Principal): void {
  if (p.kind === 'anonymous') throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
  if (p.kind !== 'admin') throw forbidden();
}

function requireRead(p: Principal): void {
  if (p.kind === 'anonymous') throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
}

function idParam(raw: string, what: string): number {
  if (!/^\d+$/.test(raw)) throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', `${what} in path must be of type int64: "${raw}"`);
  return Number(raw);
}

// ---- Pagination and queries ------------------------------------------------------------------------

/** `q=name=foo,level=~sys`: exact (`k=v`) and fuzzy (`k=~v`) matches, values optionally quoted. */
export function parseQ(q: string | null): Map<string, { value: string; fuzzy: boolean }> {
  const out = new Map<string, { value: string; fuzzy: boolean }>();
  if (!q) return out;
  for (const part of q.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw badRequest(`invalid query string: ${q}`);
    const key = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    const fuzzy = value.startsWith('~');
    if (fuzzy) value = value.slice(1);
    value = value.replace(/^["'](.*)["']$/, '$1');
    out.set(key, { value, fuzzy });
  }
  return out;
}

function matches(actual: string | number | undefined, m: { value: string; fuzzy: boolean }): boolean {
  const a = String(actual ?? '');
  return m.fuzzy ? a.includes(m.value) : a === m.value;
}

export function paginate<T>(items: T[], query: URLSearchParams, path: string): Reply {
  const pageRaw = query.get('page');
  const sizeRaw = query.get('page_size');
  const page = pageRaw === null ? 1 : Number(pageRaw);
  const size = sizeRaw === null ? 10 : Number(sizeRaw);
  if (!Number.isInteger(page))
    throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\npage in query must be of type int64: "${pageRaw}"`);
  if (!Number.isInteger(size))
    throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', `validation failure list:\npage_size in query must be of type int64: "${sizeRaw}"`);
  if (size > 100) throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', 'validation failure list:\npage_size in query should be less than or equal to 100');
  if (size < 0 || page < 0) throw badRequest('page and page_size must not be negative');
  const p = Math.max(1, page);
  const s = size === 0 ? 10 : size;
  const total = items.length;
  const slice = items.slice((p - 1) * s, p * s);
  const link = (n: number, rel: string): string => {
    const q = new URLSearchParams(query);
    q.set('page', String(n));
    q.set('page_size', String(s));
    // Harbor unescapes the query of its links.
    let qs = q.toString();
    try {
      qs = decodeURIComponent(qs.replace(/\+/g, ' '));
    } catch {
      /* keep it escaped */
    }
    return `<${API_BASE}${path}?${qs}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (p > 1 && (p - 1) * s < total) links.push(link(p - 1, 'prev'));
  if (s * p < total) links.push(link(p + 1, 'next'));
  const headers: Record<string, string> = { 'X-Total-Count': String(total) };
  if (links.length) headers['Link'] = links.join(' , ');
  return { status: 200, body: slice, headers };
}

// ---- Rendering (swagger definitions) -------------------------------------------------------------------

function renderProject(p: ProjectRec, principal: Principal): Record<string, unknown> {
  return {
    project_id: p.project_id,
    owner_id: p.owner_id,
    name: p.name,
    ...(p.registry_id ? { registry_id: p.registry_id } : {}),
    creation_time: p.creation_time,
    update_time: p.update_time,
    deleted: false,
    owner_name: p.owner_name,
    togglable: true,
    current_user_role_id: principal.kind === 'admin' ? 1 : 0,
    current_user_role_ids: principal.kind === 'admin' ? [1] : [],
    repo_count: p.repo_count,
    metadata: { ...p.metadata },
    cve_allowlist: { id: p.project_id, project_id: p.project_id, items: [], creation_time: p.creation_time, update_time: p.update_time },
  };
}

function renderQuota(env: ApiEnv, q: QuotaRec): Record<string, unknown> {
  const p = env.state.projects.find((x) => x.project_id === q.project_id);
  return {
    id: q.id,
    ref: { id: q.project_id, name: p?.name ?? '', owner_name: p?.owner_name ?? 'admin' },
    hard: { ...q.hard },
    used: { ...q.used },
    creation_time: q.creation_time,
    update_time: q.update_time,
  };
}

/** Credentials read back with the secret masked, as Harbor's convertRegistry does. */
function renderRegistry(r: RegistryRec): Record<string, unknown> {
  return {
    id: r.id,
    url: r.url,
    name: r.name,
    ...(r.credential
      ? { credential: { type: r.credential.type, access_key: r.credential.access_key, ...(r.credential.access_secret ? { access_secret: '*****' } : {}) } }
      : {}),
    type: r.type,
    insecure: r.insecure,
    ...(r.ca_certificate ? { ca_certificate: r.ca_certificate } : {}),
    description: r.description,
    status: r.status,
    creation_time: r.creation_time,
    update_time: r.update_time,
  };
}

/** Registry 0 is Harbor itself ("Local"), which fills the empty side of a policy on reads. */
function localRegistry(): Record<string, unknown> {
  return {
    id: 0,
    url: 'http://core:8080',
    name: 'Local',
    credential: { type: 'secret', access_secret: '*****' },
    type: 'harbor',
    insecure: true,
    description: '',
    status: 'healthy',
    creation_time: '0001-01-01T00:00:00.000Z',
    update_time: '0001-01-01T00:00:00.000Z',
  };
}

function renderPolicy(env: ApiEnv, p: PolicyRec): Record<string, unknown> {
  const reg = (id: number) => {
    if (id === 0) return localRegistry();
    const r = env.state.registries.find((x) => x.id === id);
    return r ? renderRegistry(r) : { id };
  };
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    src_registry: reg(p.src_registry_id),
    dest_registry: reg(p.dest_registry_id),
    dest_namespace: p.dest_namespace,
    dest_namespace_replace_count: p.dest_namespace_replace_count,
    ...(p.trigger ? { trigger: p.trigger } : {}),
    filters: p.filters.map((f) => ({ ...f })),
    replicate_deletion: p.deletion,
    deletion: p.deletion,
    override: p.override,
    enabled: p.enabled,
    creation_time: p.creation_time,
    update_time: p.update_time,
    speed: p.speed,
    copy_by_chunk: p.copy_by_chunk,
    single_active_replication: p.single_active_replication,
  };
}

function robotDisplayName(env: ApiEnv, r: RobotRec): string {
  return `${env.robotPrefix}${r.name}`;
}

/** Robots never read back their secret. */
function renderRobot(env: ApiEnv, r: RobotRec): Record<string, unknown> {
  return {
    id: r.id,
    name: robotDisplayName(env, r),
    description: r.description,
    level: r.level,
    duration: r.duration,
    editable: true,
    disable: r.disable,
    expires_at: r.expires_at,
    permissions: r.permissions.map((p) => ({
      kind: p.kind,
      namespace: p.namespace,
      access: p.access.map((a) => ({ resource: a.resource, action: a.action, ...(a.effect ? { effect: a.effect } : {}) })),
    })),
    creator_type: 'local',
    creator_ref: 1,
    creation_time: r.creation_time,
    update_time: r.update_time,
  };
}

function renderExecution(e: ExecutionRec): Record<string, unknown> {
  return { ...e };
}

// ---- Handlers --------------------------------------------------------------------------------------------

function listProjects(env: ApiEnv, req: ApiRequest): Reply {
  const q = parseQ(req.query.get('q'));
  let items = [...env.state.projects];
  const name = req.query.get('name');
  if (name) items = items.filter((p) => p.name.includes(name));
  const pub = req.query.get('public');
  if (pub === 'true' || pub === 'false') items = items.filter((p) => p.metadata['public'] === pub);
  if (req.principal.kind === 'anonymous') items = items.filter((p) => p.metadata['public'] === 'true');
  const qn = q.get('name');
  if (qn) items = items.filter((p) => matches(p.name, qn));
  items.sort((a, b) => a.project_id - b.project_id);
  const page = paginate(items, req.query, '/projects');
  page.body = (page.body as ProjectRec[]).map((p) => renderProject(p, req.principal));
  return page;
}

function createProject(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const body = parse(ProjectReqBody, req.body);
  const name = body.project_name ?? '';
  if (!name) throw badRequest('project_name is required');
  if (!NAME_RE.test(name)) throw badRequest('project name is not in lower case or contains illegal characters');
  const metadata: Record<string, string> = {};
  for (const k of METADATA_KEYS) {
    const v = body.metadata?.[k];
    if (typeof v === 'string') metadata[k] = v;
  }
  if (body.public !== undefined && body.public !== null && metadata['public'] === undefined) metadata['public'] = String(body.public);
  if (!metadata['public']) metadata['public'] = 'false';
  if (metadata['public'] !== 'true' && metadata['public'] !== 'false')
    throw badRequest(`metadata.public should only be 'true' or 'false', but got: '${metadata['public']}'`);
  if (body.retention_days !== undefined && body.retention_days !== null && (body.registry_id === undefined || body.registry_id === null)) {
    throw badRequest('retention_days is only supported when creating a proxy cache project');
  }
  if (!body.registry_id) {
    delete metadata['proxy_speed_kb'];
    delete metadata['max_upstream_conn'];
  } else {
    delete metadata['enable_content_trust'];
  }
  if (metadata['retention_id'])
    throw badRequest("the retention_id in the request's payload when creating a project should be omitted, alternatively passing an empty string");
  delete metadata['retention_id'];
  let registryId = 0;
  if (body.registry_id !== undefined && body.registry_id !== null) {
    if (body.registry_id <= 0) throw badRequest(`${body.registry_id} is invalid value of registry_id, it should be geater than 0`);
    const reg = env.state.registries.find((r) => r.id === body.registry_id);
    if (!reg) throw badRequest(`failed to get the registry ${body.registry_id}: registry ${body.registry_id} not found`);
    if (!PROXY_CACHE_TYPES.includes(reg.type)) throw badRequest(`unsupported registry type ${reg.type}`);
    registryId = reg.id;
  }
  let limit = body.storage_limit ?? 0;
  if (limit === 0) limit = -1;
  if (!validStorageLimit(limit)) throw badRequest(`invalid storage limit: ${limit}, it should be -1 or a positive integer`);
  if (env.state.projects.some((p) => p.name === name)) throw conflict(`The project named ${name} already exists`);
  const now = iso(env.now());
  const id = env.state.nextId.project++;
  env.state.projects.push({
    project_id: id,
    name,
    owner_id: 1,
    owner_name: req.principal.kind === 'admin' ? req.principal.username : 'admin',
    registry_id: registryId,
    repo_count: 0,
    metadata,
    creation_time: now,
    update_time: now,
  });
  if (registryId) metadata['retention_id'] = String(id);
  env.state.quotas.push({ id: env.state.nextId.quota++, project_id: id, hard: { storage: limit }, used: { storage: 0 }, creation_time: now, update_time: now });
  const inLocation = String(req.headers['x-resource-name-in-location'] ?? '').toLowerCase() === 'true';
  return created(`${API_BASE}/projects/${inLocation ? name : id}`);
}

function headProject(env: ApiEnv, req: ApiRequest): Reply {
  requireRead(req.principal);
  const name = req.query.get('project_name');
  if (!name) throw new HarborFault(422, 'UNPROCESSABLE_ENTITY', 'validation failure list:\nproject_name in query is required');
  if (!env.state.projects.some((p) => p.name === name)) throw notFound(`project ${name} not found`);
  return ok();
}

function projectFromPath(env: ApiEnv, req: ApiRequest, raw: string): ProjectRec {
  const isName = String(req.headers['x-is-resource-name'] ?? '').toLowerCase() === 'true';
  const p = findProject(env.state, raw, isName);
  if (!p) throw notFound(`project ${raw} not found`);
  if (req.principal.kind === 'anonymous' && p.metadata['public'] !== 'true') throw new HarborFault(401, 'UNAUTHORIZED', 'unauthorized');
  return p;
}

function updateProject(env: ApiEnv, req: ApiRequest, p: ProjectRec): Reply {
  requireAdmin(req.principal);
  const body = parse(ProjectReqBody, req.body);
  if (body.retention_days !== undefined && body.retention_days !== null)
    throw badRequest('retention_days is only supported when creating a proxy cache project');
  // Only the metadata changes: project_name, registry_id and storage_limit are ignored (quota: PUT /quotas/{id}).
  const next = { ...p.metadata };
  for (const k of METADATA_KEYS) {
    const v = body.metadata?.[k];
    if (typeof v === 'string' && v !== '') next[k] = v;
  }
  if (!p.registry_id) {
    delete next['proxy_speed_kb'];
    delete next['max_upstream_conn'];
  }
  if (next['public'] !== 'true' && next['public'] !== 'false')
    throw badRequest(`metadata.public should only be 'true' or 'false', but got: '${next['public'] ?? ''}'`);
  if (next['retention_id'] !== p.metadata['retention_id']) {
    throw badRequest(
      "the retention_id in the request's payload when updating a project should be omitted, alternatively passing the one that has already been associated to this project",
    );
  }
  p.metadata = next;
  p.update_time = iso(env.now());
  return done();
}

function deleteProject(env: ApiEnv, req: ApiRequest, p: ProjectRec): Reply {
  requireAdmin(req.principal);
  if (p.repo_count > 0) throw precondition('the project contains repositories, can not be deleted');
  env.state.projects = env.state.projects.filter((x) => x.project_id !== p.project_id);
  env.state.quotas = env.state.quotas.filter((q) => q.project_id !== p.project_id);
  env.state.robots = env.state.robots.filter((r) => r.project_id !== p.project_id);
  return done();
}

function listQuotas(env: ApiEnv, req: ApiRequest): Reply {
  requireRead(req.principal);
  const ref = req.query.get('reference');
  const refId = req.query.get('reference_id');
  let items = [...env.state.quotas];
  if (ref && ref !== 'project') items = [];
  if (refId) items = items.filter((q) => String(q.project_id) === refId);
  items.sort((a, b) => a.id - b.id);
  const page = paginate(items, req.query, '/quotas');
  page.body = (page.body as QuotaRec[]).map((q) => renderQuota(env, q));
  return page;
}

function updateQuota(env: ApiEnv, req: ApiRequest, id: number): Reply {
  requireAdmin(req.principal);
  const q = env.state.quotas.find((x) => x.id === id);
  if (!q) throw notFound(`quota ${id} not found`);
  const body = parse(QuotaUpdateBody, req.body);
  const hard = body.hard;
  if (!hard || Object.keys(hard).length === 0) throw badRequest('hard required in body');
  for (const [k, v] of Object.entries(hard)) {
    if (k !== 'storage') throw badRequest(`resource ${k} not support`);
    if (!validStorageLimit(v)) throw badRequest(`invalid value ${v} of hard resource storage`);
  }
  q.hard = { ...q.hard, ...hard };
  q.update_time = iso(env.now());
  return done();
}

async function checkHealthy(env: ApiEnv, r: { url: string; type: string; insecure: boolean; credential?: RegistryRec['credential'] }): Promise<void> {
  let healthy = false;
  try {
    healthy = await env.remoteCheck(r.url, { type: r.type, insecure: r.insecure, credential: r.credential });
  } catch {
    healthy = false;
  }
  if (!healthy) throw badRequest('the registry is unhealthy');
}

function validateRegistryFields(name: string, url: string, type: string): string {
  if (!name) throw badRequest('name cannot be empty');
  if (name.length > 64) throw badRequest('the max length of name is 64');
  if (!(REGISTRY_TYPES as readonly string[]).includes(type)) throw badRequest(`adapter factory for ${type} not found`);
  return validateHttpUrl(url);
}

function listRegistries(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const q = parseQ(req.query.get('q'));
  let items = [...env.state.registries];
  const name = req.query.get('name');
  if (name) items = items.filter((r) => r.name.includes(name));
  const qn = q.get('name');
  if (qn) items = items.filter((r) => matches(r.name, qn));
  const qt = q.get('type');
  if (qt) items = items.filter((r) => matches(r.type, qt));
  items.sort((a, b) => a.id - b.id);
  const page = paginate(items, req.query, '/registries');
  page.body = (page.body as RegistryRec[]).map(renderRegistry);
  return page;
}

async function createRegistry(env: ApiEnv, req: ApiRequest): Promise<Reply> {
  requireAdmin(req.principal);
  const body = parse(RegistryBody, req.body);
  const name = body.name ?? '';
  const type = body.type ?? '';
  const url = validateRegistryFields(name, body.url ?? '', type);
  const credential = body.credential
    ? { type: body.credential.type || 'basic', access_key: body.credential.access_key ?? '', access_secret: body.credential.access_secret ?? '' }
    : undefined;
  // Harbor pings the remote before it stores the registry.
  await checkHealthy(env, { url, type, insecure: body.insecure ?? false, credential });
  if (env.state.registries.some((r) => r.name === name)) throw conflict(`registry ${name} already exists`);
  const now = iso(env.now());
  const id = env.state.nextId.registry++;
  env.state.registries.push({
    id,
    name,
    url,
    type,
    description: body.description ?? '',
    insecure: body.insecure ?? false,
    ...(body.ca_certificate ? { ca_certificate: body.ca_certificate } : {}),
    ...(credential ? { credential } : {}),
    status: 'healthy',
    creation_time: now,
    update_time: now,
  });
  return created(`${API_BASE}/registries/${id}`);
}

async function updateRegistry(env: ApiEnv, req: ApiRequest, r: RegistryRec): Promise<Reply> {
  requireAdmin(req.principal);
  const body = parse(RegistryUpdateBody, req.body);
  const next = structuredClone(r);
  if (body.name !== undefined && body.name !== null) next.name = body.name;
  if (body.description !== undefined && body.description !== null) next.description = body.description;
  if (body.url !== undefined && body.url !== null) next.url = body.url;
  if (body.insecure !== undefined && body.insecure !== null) next.insecure = body.insecure;
  if (body.ca_certificate !== undefined && body.ca_certificate !== null) next.ca_certificate = body.ca_certificate;
  const cred = next.credential ?? { type: '', access_key: '', access_secret: '' };
  if (body.credential_type !== undefined && body.credential_type !== null) cred.type = body.credential_type;
  if (body.access_key !== undefined && body.access_key !== null) cred.access_key = body.access_key;
  if (body.access_secret !== undefined && body.access_secret !== null) cred.access_secret = body.access_secret;
  next.credential = cred;
  next.url = validateRegistryFields(next.name, next.url, next.type);
  await checkHealthy(env, next);
  if (env.state.registries.some((x) => x.name === next.name && x.id !== r.id)) throw conflict(`registry ${next.name} already exists`);
  next.update_time = iso(env.now());
  Object.assign(r, next);
  return done();
}

function deleteRegistry(env: ApiEnv, req: ApiRequest, r: RegistryRec): Reply {
  requireAdmin(req.principal);
  if (env.state.policies.some((p) => p.src_registry_id === r.id || p.dest_registry_id === r.id))
    throw precondition(`the registry ${r.id} is referenced by replication policies, cannot delete it`);
  if (env.state.projects.some((p) => p.registry_id === r.id)) throw precondition(`the registry ${r.id} is referenced by proxy cache project, cannot delete it`);
  env.state.registries = env.state.registries.filter((x) => x.id !== r.id);
  return done();
}

function policyFromBody(env: ApiEnv, body: z.infer<typeof ReplicationPolicyBody>, existing: PolicyRec | undefined, creator: string): PolicyRec {
  const name = body.name ?? '';
  if (!name) throw badRequest('empty name');
  const src = body.src_registry?.id ?? 0;
  const dst = body.dest_registry?.id ?? 0;
  if ((src !== 0 && dst !== 0) || (src === 0 && dst === 0))
    throw badRequest("either src_registry or dest_registry should be empty and the other one shouldn't be empty");
  for (const id of [src, dst]) if (id !== 0 && !env.state.registries.some((r) => r.id === id)) throw notFound(`registry ${id} not found`);
  const filters = (body.filters ?? []).map((f) => {
    const type = f.type ?? '';
    if (!['name', 'tag', 'label', 'resource'].includes(type)) throw badRequest(`invalid filter type: ${type}`);
    if (type === 'label') {
      if (!Array.isArray(f.value) || !f.value.every((v) => typeof v === 'string')) throw badRequest(`the type of label filter value must be string slice`);
    } else if (typeof f.value !== 'string') throw badRequest(`the type of ${type} filter value must be string`);
    if (type === 'resource' && !['image', 'artifact'].includes(f.value as string)) throw badRequest(`invalid resource filter: ${String(f.value)}`);
    if (f.decoration !== undefined && f.decoration !== '' && !['matches', 'excludes'].includes(f.decoration))
      throw badRequest(`invalid filter decoration: ${f.decoration}`);
    return { type, value: f.value, ...(f.decoration ? { decoration: f.decoration } : {}) };
  });
  if (body.dest_namespace && !/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(body.dest_namespace)) {
    throw badRequest(`invalid destination namespace: ${body.dest_namespace}`);
  }
  let trigger: PolicyRec['trigger'];
  if (body.trigger) {
    const type = body.trigger.type ?? '';
    if (type === 'scheduled') {
      const cron = body.trigger.trigger_settings?.cron ?? '';
      const problem = replicationCronProblem(cron);
      if (problem) throw badRequest(problem);
      trigger = { type, trigger_settings: { cron } };
    } else if (type === 'manual' || type === 'event_based') {
      trigger = { type, trigger_settings: { cron: '' } };
    } else throw badRequest('invalid trigger type');
  }
  const now = iso(env.now());
  // Harbor reads `deletion` on write; `replicate_deletion` is ignored. Negative speeds become 0.
  return {
    id: existing?.id ?? 0,
    name,
    description: body.description ?? '',
    creator: existing?.creator ?? creator,
    src_registry_id: src,
    dest_registry_id: dst,
    dest_namespace: body.dest_namespace ?? '',
    dest_namespace_replace_count: body.dest_namespace_replace_count ?? -1,
    filters,
    ...(trigger ? { trigger } : {}),
    deletion: body.deletion ?? false,
    override: body.override ?? false,
    enabled: body.enabled ?? false,
    speed: body.speed === undefined || body.speed === null ? (existing?.speed ?? 0) : Math.max(0, body.speed),
    copy_by_chunk: body.copy_by_chunk ?? existing?.copy_by_chunk ?? false,
    single_active_replication: body.single_active_replication ?? existing?.single_active_replication ?? false,
    creation_time: existing?.creation_time ?? now,
    update_time: now,
  };
}

function listPolicies(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const q = parseQ(req.query.get('q'));
  let items = [...env.state.policies];
  const name = req.query.get('name');
  if (name) items = items.filter((p) => p.name.includes(name));
  const qn = q.get('name');
  if (qn) items = items.filter((p) => matches(p.name, qn));
  items.sort((a, b) => a.id - b.id);
  const page = paginate(items, req.query, '/replication/policies');
  page.body = (page.body as PolicyRec[]).map((p) => renderPolicy(env, p));
  return page;
}

function createPolicy(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const body = parse(ReplicationPolicyBody, req.body);
  const p = policyFromBody(env, body, undefined, req.principal.kind === 'admin' ? req.principal.username : 'admin');
  if (env.state.policies.some((x) => x.name === p.name)) throw conflict(`policy ${p.name} already exists`);
  p.id = env.state.nextId.policy++;
  env.state.policies.push(p);
  return created(`${API_BASE}/replication/policies/${p.id}`);
}

function updatePolicy(env: ApiEnv, req: ApiRequest, existing: PolicyRec): Reply {
  requireAdmin(req.principal);
  const body = parse(ReplicationPolicyBody, req.body);
  const p = policyFromBody(env, body, existing, existing.creator);
  if (env.state.policies.some((x) => x.name === p.name && x.id !== existing.id)) throw conflict(`policy ${p.name} already exists`);
  Object.assign(existing, p);
  return done();
}

function deletePolicy(env: ApiEnv, req: ApiRequest, p: PolicyRec): Reply {
  requireAdmin(req.principal);
  if (env.state.executions.some((e) => e.policy_id === p.id && e.status === 'InProgress'))
    throw precondition(`the policy ${p.id} has running executions, can not be deleted`);
  env.state.policies = env.state.policies.filter((x) => x.id !== p.id);
  return done();
}

function listExecutions(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  let items = [...env.state.executions];
  const pid = req.query.get('policy_id');
  if (pid) items = items.filter((e) => String(e.policy_id) === pid);
  const status = req.query.get('status');
  if (status) items = items.filter((e) => e.status === status);
  const trigger = req.query.get('trigger');
  if (trigger) items = items.filter((e) => e.trigger === trigger);
  items.sort((a, b) => b.id - a.id);
  const page = paginate(items, req.query, '/replication/executions');
  page.body = (page.body as ExecutionRec[]).map(renderExecution);
  return page;
}

function startExecution(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const body = parse(StartExecutionBody, req.body);
  const policy = policyOrFail(env.state, body.policy_id ?? 0);
  const e: ExecutionRec = {
    id: env.state.nextId.execution++,
    policy_id: policy.id,
    status: 'InProgress',
    status_text: '',
    trigger: req.query.get('trigger') === 'scheduled' ? 'scheduled' : 'manual',
    start_time: iso(env.now()),
    total: 0,
    failed: 0,
    succeed: 0,
    in_progress: 0,
    stopped: 0,
  };
  env.state.executions.push(e);
  env.runExecution(policy, e);
  return created(`${API_BASE}/replication/executions/${e.id}`);
}

function listRobots(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const q = parseQ(req.query.get('q'));
  const level = q.get('Level') ?? q.get('level');
  let items = [...env.state.robots];
  if (level) {
    if (level.value !== 'system' && level.value !== 'project') throw badRequest('bad request error level input');
    if (level.value === 'project') {
      const pid = q.get('ProjectID') ?? q.get('project_id');
      if (!pid) throw badRequest('must with project ID when to query project robots');
      if (!/^\d+$/.test(pid.value)) throw badRequest('Project ID must be int type.');
      items = items.filter((r) => r.level === 'project' && String(r.project_id) === pid.value);
    } else items = items.filter((r) => r.level === 'system');
  } else items = items.filter((r) => r.project_id === 0);
  const qn = q.get('name');
  if (qn) items = items.filter((r) => matches(r.name, qn) || matches(robotDisplayName(env, r), qn));
  items.sort((a, b) => a.id - b.id);
  const page = paginate(items, req.query, '/robots');
  page.body = (page.body as RobotRec[]).map((r) => renderRobot(env, r));
  return page;
}

function expiresAt(now: Date, duration: number): number {
  if (duration === -1) return -1;
  return Math.floor(now.getTime() / 1000) + (duration === 0 ? 30 : duration) * 86400;
}

function createRobot(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const body = parse(RobotCreateBody, req.body);
  const name = body.name ?? '';
  if (!NAME_RE.test(name)) throw badRequest('robot name is not in lower case or contains illegal characters');
  const permissions = validateRobotPermissions(env.state, body.level, body.duration, body.permissions);
  let stored = name;
  let projectId = 0;
  if (body.level === 'project') {
    const proj = env.state.projects.find((p) => p.name === permissions[0]!.namespace);
    if (!proj) throw notFound(`project ${permissions[0]!.namespace} not found`);
    stored = `${proj.name}+${name}`;
    projectId = proj.project_id;
  }
  if (env.state.robots.some((r) => r.name === stored)) throw conflict(`robot account ${env.robotPrefix}${stored} already exists`);
  // The secret in the request is ignored: Harbor generates one and returns it once.
  const secret = randomRobotSecret();
  const salt = randomBytes(8).toString('hex');
  const now = env.now();
  const duration = body.duration === 0 || body.duration === undefined || body.duration === null ? 30 : body.duration;
  const r: RobotRec = {
    id: env.state.nextId.robot++,
    name: stored,
    description: body.description ?? '',
    level: body.level as 'system' | 'project',
    project_id: projectId,
    duration,
    expires_at: expiresAt(now, duration),
    disable: body.disable ?? false,
    permissions,
    salt,
    secret_hash: hashSecret(secret, salt),
    creation_time: iso(now),
    update_time: iso(now),
  };
  env.state.robots.push(r);
  return created(`${API_BASE}/robots/${r.id}`, { id: r.id, name: robotDisplayName(env, r), secret, creation_time: r.creation_time, expires_at: r.expires_at });
}

function updateRobot(env: ApiEnv, req: ApiRequest, r: RobotRec): Reply {
  requireAdmin(req.principal);
  const body = parse(RobotUpdateBody, req.body);
  const permissions = validateRobotPermissions(env.state, body.level, body.duration, body.permissions);
  if (body.level !== r.level || body.name !== robotDisplayName(env, r)) throw badRequest('cannot update the level or name of robot');
  const duration = body.duration ?? 0;
  if (duration !== r.duration) {
    r.duration = duration === 0 ? 30 : duration;
    r.expires_at = duration === -1 ? -1 : Math.floor(new Date(r.creation_time).getTime() / 1000) + r.duration * 86400;
  }
  r.description = body.description ?? '';
  r.disable = body.disable ?? false;
  r.permissions = permissions;
  r.update_time = iso(env.now());
  return done();
}

function refreshRobotSecret(env: ApiEnv, req: ApiRequest, r: RobotRec): Reply {
  requireAdmin(req.principal);
  const body = parse(RobotSecBody, req.body);
  let reply: Record<string, string> = {};
  let secret: string;
  if (body.secret) {
    if (!isValidRobotSecret(body.secret))
      throw badRequest('the secret must longer than 8 chars with at least 1 uppercase letter, 1 lowercase letter and 1 number');
    secret = body.secret;
  } else {
    secret = randomRobotSecret();
    reply = { secret };
  }
  r.salt = randomBytes(8).toString('hex');
  r.secret_hash = hashSecret(secret, r.salt);
  r.update_time = iso(env.now());
  return { status: 200, body: reply, mutated: true };
}

function deleteRobot(env: ApiEnv, req: ApiRequest, r: RobotRec): Reply {
  requireAdmin(req.principal);
  env.state.robots = env.state.robots.filter((x) => x.id !== r.id);
  return done();
}

function health(): Reply {
  const components = ['core', 'database', 'jobservice', 'portal', 'redis', 'registry', 'registryctl', 'trivy'].map((name) => ({ name, status: 'healthy' }));
  return ok({ status: 'healthy', components });
}

function systemInfo(env: ApiEnv, req: ApiRequest): Reply {
  const base: Record<string, unknown> = {
    auth_mode: 'db_auth',
    primary_auth_mode: false,
    banner_message: '',
    self_registration: false,
    harbor_version: `${env.version}-emulator`,
    current_time: iso(env.now()),
    oidc_provider_name: '',
  };
  if (req.principal.kind === 'anonymous') return ok(base);
  const host = (() => {
    try {
      return new URL(env.externalUrl).host;
    } catch {
      return env.externalUrl;
    }
  })();
  return ok({
    ...base,
    external_url: env.externalUrl,
    registry_url: host,
    project_creation_restriction: 'everyone',
    has_ca_root: false,
    registry_storage_provider_name: 'filesystem',
    read_only: false,
    notification_enable: true,
  });
}

type Handler = (env: ApiEnv, req: ApiRequest, m: string[]) => Reply | Promise<Reply>;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
}

const ROUTES: Route[] = [
  { pattern: /^\/ping$/, methods: { GET: () => ({ status: 200, text: 'Pong' }) } },
  { pattern: /^\/health$/, methods: { GET: () => health() } },
  { pattern: /^\/systeminfo$/, methods: { GET: (env, req) => systemInfo(env, req) } },
  { pattern: /^\/projects$/, methods: { GET: listProjects, HEAD: headProject, POST: createProject } },
  {
    pattern: /^\/projects\/([^/]+)$/,
    methods: {
      GET: (env, req, m) => ok(renderProject(projectFromPath(env, req, m[1]!), req.principal)),
      PUT: (env, req, m) => updateProject(env, req, projectFromPath(env, req, m[1]!)),
      DELETE: (env, req, m) => deleteProject(env, req, projectFromPath(env, req, m[1]!)),
    },
  },
  { pattern: /^\/quotas$/, methods: { GET: listQuotas } },
  {
    pattern: /^\/quotas\/([^/]+)$/,
    methods: {
      GET: (env, req, m) => {
        requireRead(req.principal);
        const q = env.state.quotas.find((x) => x.id === idParam(m[1]!, 'id'));
        if (!q) throw notFound(`quota ${m[1]} not found`);
        return ok(renderQuota(env, q));
      },
      PUT: (env, req, m) => updateQuota(env, req, idParam(m[1]!, 'id')),
    },
  },
  { pattern: /^\/registries$/, methods: { GET: listRegistries, POST: createRegistry } },
  {
    pattern: /^\/registries\/(\d+|[^/]+)$/,
    methods: {
      GET: (env, req, m) => {
        requireAdmin(req.principal);
        return ok(renderRegistry(registryOrFail(env.state, idParam(m[1]!, 'id'))));
      },
      PUT: (env, req, m) => updateRegistry(env, req, registryOrFail(env.state, idParam(m[1]!, 'id'))),
      DELETE: (env, req, m) => deleteRegistry(env, req, registryOrFail(env.state, idParam(m[1]!, 'id'))),
    },
  },
  { pattern: /^\/replication\/policies$/, methods: { GET: listPolicies, POST: createPolicy } },
  {
    pattern: /^\/replication\/policies\/([^/]+)$/,
    methods: {
      GET: (env, req, m) => {
        requireAdmin(req.principal);
        return ok(renderPolicy(env, policyOrFail(env.state, idParam(m[1]!, 'id'))));
      },
      PUT: (env, req, m) => updatePolicy(env, req, policyOrFail(env.state, idParam(m[1]!, 'id'))),
      DELETE: (env, req, m) => deletePolicy(env, req, policyOrFail(env.state, idParam(m[1]!, 'id'))),
    },
  },
  { pattern: /^\/replication\/executions$/, methods: { GET: listExecutions, POST: startExecution } },
  {
    pattern: /^\/replication\/executions\/([^/]+)$/,
    methods: {
      GET: (env, req, m) => {
        requireAdmin(req.principal);
        const e = env.state.executions.find((x) => x.id === idParam(m[1]!, 'id'));
        if (!e) throw notFound(`execution ${m[1]} not found`);
        return ok(renderExecution(e));
      },
    },
  },
  { pattern: /^\/robots$/, methods: { GET: listRobots, POST: createRobot } },
  {
    pattern: /^\/robots\/([^/]+)$/,
    methods: {
      GET: (env, req, m) => {
        requireAdmin(req.principal);
        return ok(renderRobot(env, robotOrFail(env.state, idParam(m[1]!, 'robot_id'))));
      },
      PUT: (env, req, m) => updateRobot(env, req, robotOrFail(env.state, idParam(m[1]!, 'robot_id'))),
      PATCH: (env, req, m) => refreshRobotSecret(env, req, robotOrFail(env.state, idParam(m[1]!, 'robot_id'))),
      DELETE: (env, req, m) => deleteRobot(env, req, robotOrFail(env.state, idParam(m[1]!, 'robot_id'))),
    },
  },
];

/** Endpoints Harbor serves without authentication. */
export function isAnonymousEndpoint(method: string, path: string): boolean {
  return (
    (method === 'GET' && (path === '/ping' || path === '/health' || path === '/systeminfo')) ||
    ((method === 'GET' || method === 'HEAD') && path === '/projects')
  );
}

export async function handleApi(env: ApiEnv, req: ApiRequest): Promise<Reply> {
  for (const route of ROUTES) {
    const m = route.pattern.exec(req.path);
    if (!m) continue;
    const handler = route.methods[req.method];
    if (!handler) throw new HarborFault(405, 'METHOD_NOT_ALLOWED', `method ${req.method} is not allowed`);
    const decoded = m.map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    return await handler(env, req, decoded);
  }
  throw notFound(`path ${API_BASE}${req.path} was not found`);
}
