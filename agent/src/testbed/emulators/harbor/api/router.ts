// The Harbor v2.15 REST API (`/api/v2.0`) of the emulator as one route table: which path and method go
// to which resource's handler, which endpoints need no authentication, and Harbor's 404/405 answers.
// Authentication and the HTTP server live in ../server.ts.
import { HarborFault, notFound } from '../store.js';
import { API_BASE, type ApiEnv, type ApiRequest, type Reply, type Route } from './common.js';
import { PROJECT_ROUTES } from './projects.js';
import { REGISTRY_ROUTES } from './registries.js';
import { REPLICATION_ROUTES } from './replication.js';
import { ROBOT_ROUTES } from './robots.js';
import { SYSTEM_ROUTES } from './system.js';
import { decodeSegment } from '../../http.js';

const ROUTES: Route[] = [...SYSTEM_ROUTES, ...PROJECT_ROUTES, ...REGISTRY_ROUTES, ...REPLICATION_ROUTES, ...ROBOT_ROUTES];

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
    return await handler(env, req, m.map(decodeSegment));
  }
  throw notFound(`path ${API_BASE}${req.path} was not found`);
}
