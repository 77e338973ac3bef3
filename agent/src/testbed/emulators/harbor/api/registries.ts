// Harbor's registry endpoints (`/registries`): Harbor pings the remote before it stores or changes one
// (400 "the registry is unhealthy"), reads credentials back with the secret masked, and refuses to delete
// a registry a replication policy or a proxy-cache project uses.
import { RegistryBody, RegistryUpdateBody, type RegistryRec } from '../schema.js';
import { registryRefusal, registryStoredRefusal } from '../../../../model/constraints/harbor-api-checks.js';
import { badRequest, conflict, iso, precondition, refused, registryOrFail } from '../store.js';
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
  type ApiEnv,
  type ApiRequest,
  type Reply,
  type Route,
} from './common.js';

/** Credentials read back with the secret masked, as Harbor's convertRegistry does. */
export function renderRegistry(r: RegistryRec): Record<string, unknown> {
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
export function localRegistry(): Record<string, unknown> {
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

async function checkHealthy(env: ApiEnv, r: { url: string; type: string; insecure: boolean; credential?: RegistryRec['credential'] }): Promise<void> {
  let healthy = false;
  try {
    healthy = await env.remoteCheck(r.url, { type: r.type, insecure: r.insecure, credential: r.credential });
  } catch {
    healthy = false;
  }
  if (!healthy) throw badRequest('the registry is unhealthy');
}

/** controller/registry validate up to the health check: Harbor's checks, the normalized URL. */
function validateRegistryFields(name: string, url: string, type: string): string {
  const r = registryRefusal({ name, url, type });
  if ('refusal' in r) throw refused(r.refusal);
  return r.url;
}

/** The row's columns, checked when it is written (after the health check). */
function checkStored(url: string, accessKey: string | undefined): void {
  const r = registryStoredRefusal(url, accessKey);
  if (r) throw refused(r);
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
  checkStored(url, credential?.access_key);
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
  checkStored(next.url, next.credential?.access_key);
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

export const REGISTRY_ROUTES: Route[] = [
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
];
