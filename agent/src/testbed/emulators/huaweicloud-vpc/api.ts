// The VPC v1 route-table API behind the gateway: `GET /v1/{project_id}/routetables` (filters, pagination),
// `GET|PUT /v1/{project_id}/routetables/{id}`, the project checked against the URL, the X-Project-Id header
// and the key's projects; VPC errors as {"code":"VPC.xxxx","message"}, gateway ones as APIGW.xxxx.
import type http from 'node:http';
import type { Reply } from './gateway.js';
import type { EmuCredential } from './schema.js';
import { listTables, VpcApiError, type ListQuery, type RouteTableStore } from './store.js';
import { decodeSegment } from '../http.js';

export interface RouteTableApiOptions {
  store: RouteTableStore;
  credentials: ReadonlyMap<string, EmuCredential>;
  /** Create an empty route table on the first request for an unknown id. */
  autoCreateTables: boolean | undefined;
}

/** The first value of each query parameter. */
function firstValues(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) if (!(k in out)) out[k] = v;
  return out;
}

/** Answers an authenticated request; `segments` are the path's, e.g. ['v1', pid, 'routetables', id?]. */
export type RouteTableApi = (req: http.IncomingMessage, ak: string, segments: string[], rawQuery: string, body: Buffer) => Promise<Reply>;

export function routeTableApi({ store, credentials: creds, autoCreateTables }: RouteTableApiOptions): RouteTableApi {
  return async (req, ak, segments, rawQuery, body) => {
    const method = req.method ?? 'GET';
    // /v1/{project_id}/routetables[/{id}]
    const [, projectId, , tableId] = segments.map(decodeSegment);
    const cred = creds.get(ak)!;
    const headerProject = req.headers['x-project-id'];
    if (
      !projectId ||
      (typeof headerProject === 'string' && headerProject !== projectId) ||
      (cred.projects && !cred.projects.includes(projectId)) ||
      (!store.hasProject(projectId) && !autoCreateTables)
    ) {
      const e = VpcApiError.of('tenantMismatch', 'urlTenantId is not equal tokenTenantId');
      return { status: e.status, body: e.body() };
    }
    try {
      if (tableId === undefined) {
        if (method !== 'GET') throw new VpcApiError(404, 'APIGW.0101', 'The API does not exist or has not been published in the environment');
        const q = firstValues(rawQuery) as ListQuery;
        return { status: 200, body: { routetables: listTables(store.tables(projectId), q).map((t) => ({ ...t, tenant_id: projectId })) } };
      }
      if (method === 'GET') {
        let t = store.table(projectId, tableId);
        if (!t && autoCreateTables) t = await store.putTable(projectId, { id: tableId, name: tableId });
        if (!t) throw VpcApiError.of('routeTableNotFound', `RouteTable ${tableId} is not exist.`);
        return { status: 200, body: { routetable: { ...t, tenant_id: projectId } } };
      }
      if (method === 'PUT') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8') || 'null');
        } catch {
          throw VpcApiError.of('invalidParam', 'Param is invalid: the request body is not JSON.');
        }
        if (!store.table(projectId, tableId) && autoCreateTables) await store.putTable(projectId, { id: tableId, name: tableId });
        const t = await store.update(projectId, tableId, parsed);
        return { status: 200, body: { routetable: { ...t, tenant_id: projectId } } };
      }
      throw new VpcApiError(404, 'APIGW.0101', 'The API does not exist or has not been published in the environment');
    } catch (err) {
      if (err instanceof VpcApiError) {
        if (err.code.startsWith('APIGW.')) return { status: err.status, body: { error_code: err.code, error_msg: err.message } };
        return { status: err.status, body: err.body() };
      }
      throw err;
    }
  };
}
