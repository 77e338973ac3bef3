// Harbor's projects and their quotas (`/projects`, `/quotas`): listing (anonymous callers see public
// projects only), create with Harbor's metadata and proxy-cache rules, update of the metadata only, delete
// refused while repositories remain; quota reads and storage limits.
import { ProjectReqBody, QuotaUpdateBody, type ProjectRec, type QuotaRec } from '../schema.js';
import {
  HARBOR_LIMITS,
  HARBOR_PROXY_CACHE_TYPES,
  projectNameRefusal,
  projectPublicRefusal,
  projectRegistryIdRefusal,
  projectStorageRefusal,
  quotaHardRefusal,
  unprocessable,
} from '../../../../model/constraints/harbor-api-checks.js';
import { HarborFault, METADATA_KEYS, badRequest, conflict, findProject, iso, notFound, precondition, refused } from '../store.js';
import {
  API_BASE,
  created,
  done,
  idParam,
  matches,
  ok,
  paginate,
  parse,
  parseQ,
  requireAdmin,
  requireRead,
  type ApiEnv,
  type ApiRequest,
  type Principal,
  type Reply,
  type Route,
} from './common.js';

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

/** strconv.ParseInt(s, 10, 32)'s error, as Harbor prints it. */
function int32Error(s: string): string | undefined {
  if (!/^[+-]?\d+$/.test(s)) return `strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`;
  const n = Number(s);
  return n < -2147483648 || n > 2147483647 ? `strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range` : undefined;
}

/** handler/project.go CreateProject and validateProjectReq, then pkg/project manager.go Create, in their order. */
function createProject(env: ApiEnv, req: ApiRequest): Reply {
  requireAdmin(req.principal);
  const body = parse(ProjectReqBody, req.body);
  const name = body.project_name ?? '';
  // go-swagger's maxLength, before the handler.
  if ([...name].length > HARBOR_LIMITS.projectName) throw refused(unprocessable('project_name in body should be at most 255 chars long'));
  const metadata: Record<string, string> = {};
  for (const k of METADATA_KEYS) {
    const v = body.metadata?.[k];
    if (typeof v === 'string') metadata[k] = v;
  }
  if (body.public !== undefined && body.public !== null && !metadata['public']) metadata['public'] = String(body.public);
  if (!metadata['public']) metadata['public'] = 'false';
  const pub = projectPublicRefusal(metadata['public']);
  if (pub) throw refused(pub);
  if (body.registry_id === undefined || body.registry_id === null) {
    delete metadata['proxy_speed_kb'];
    delete metadata['max_upstream_conn'];
  } else {
    delete metadata['enable_content_trust'];
  }
  if (metadata['retention_id'])
    throw badRequest("bad request: the retention_id in the request's payload when creating a project should be omitted, alternatively passing an empty string");
  delete metadata['retention_id'];
  let registryId = 0;
  if (body.registry_id !== undefined && body.registry_id !== null) {
    const bad = projectRegistryIdRefusal(body.registry_id);
    if (bad) throw refused(bad);
    const reg = env.state.registries.find((r) => r.id === body.registry_id);
    // "failed to get the registry N: ..." is a plain error: Harbor answers 500.
    if (!reg) throw new HarborFault(500, 'UNKNOWN', 'internal server error');
    if (!(HARBOR_PROXY_CACHE_TYPES as readonly string[]).includes(reg.type)) throw badRequest(`bad request: unsupported registry type ${reg.type}`);
    for (const [key, what] of [
      ['proxy_speed_kb', 'should by an int32, but got:'],
      ['max_upstream_conn', 'should be an int, but got'],
    ] as const) {
      const v = metadata[key];
      const e = v === undefined ? undefined : int32Error(v);
      if (e) throw badRequest(`metadata.${key} ${what} '${v}', err: ${e}`);
    }
    registryId = reg.id;
  }
  // The quota per project is on, and 0 or no storage_limit means storage_per_project (-1 unless configured).
  const limit = body.storage_limit ? body.storage_limit : -1;
  const storage = projectStorageRefusal(limit);
  if (storage) throw refused(storage);
  const badName = projectNameRefusal(name);
  if (badName) throw refused(badName);
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
      "the retention_id in the request's payload when updating a project should be omitted, " +
        'alternatively passing the one that has already been associated to this project',
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

/** handler/quota.go UpdateQuota: hard required, then the quota (404), then the project quota driver's Validate. */
function updateQuota(env: ApiEnv, req: ApiRequest, id: number): Reply {
  requireAdmin(req.principal);
  const hard = parse(QuotaUpdateBody, req.body).hard;
  if (!hard || Object.keys(hard).length === 0) throw refused(quotaHardRefusal(hard)!);
  const q = env.state.quotas.find((x) => x.id === id);
  if (!q) throw notFound(`quota ${id} not found`);
  const bad = quotaHardRefusal(hard);
  if (bad) throw refused(bad);
  q.hard = { ...q.hard, ...hard };
  q.update_time = iso(env.now());
  return done();
}

export const PROJECT_ROUTES: Route[] = [
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
];
