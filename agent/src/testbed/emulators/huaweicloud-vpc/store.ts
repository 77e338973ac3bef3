// The emulator's route tables and the VPC v1 semantics of their API: list (no routes, limit/marker
// pagination), show, and update with routes add/mod/del applied atomically. Errors are VPC v1 bodies
// `{"code","message"}` with their HTTP status. State is persisted atomically when a file is given.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseCidr, parseIpv4 } from '../../../net/cidr.js';
import {
  DEFAULT_ROUTE_QUOTA,
  EmuRouteTable,
  EmuState,
  LOCAL_ROUTE_TYPE,
  ROUTE_TYPES,
  type EmuRoute,
  type EmuRouteTableInput,
  type EmuStateInput,
} from './schema.js';

/**
 * VPC v1 error codes the emulator answers with. VPC.0003 and VPC.0007 are the documented public codes; the
 * route-table codes follow the VPC.28xx range of the route-table module but their exact numbers are the
 * emulator's choice (the public error-code table does not list them all), so clients must not depend on them.
 */
export const VPC_ERRORS = {
  tenantMismatch: { status: 400, code: 'VPC.0007' },
  invalidParam: { status: 400, code: 'VPC.2800' },
  routeTableNotFound: { status: 404, code: 'VPC.2802' },
  destinationConflict: { status: 400, code: 'VPC.2804' },
  routeNotFound: { status: 400, code: 'VPC.2805' },
  systemRoute: { status: 400, code: 'VPC.2806' },
  routeQuota: { status: 409, code: 'VPC.2807' },
  backend: { status: 500, code: 'VPC.0105' },
} as const;

// Not a MirrornetError: the stand-in's own HTTP answer (status, VPC code, message), thrown to its handler; no user sees it as ours.
export class VpcApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'VpcApiError';
  }
  static of(kind: keyof typeof VPC_ERRORS, message: string): VpcApiError {
    const e = VPC_ERRORS[kind];
    return new VpcApiError(e.status, e.code, message);
  }
  body(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

export interface ListQuery {
  limit?: string;
  marker?: string;
  id?: string;
  vpc_id?: string;
  subnet_id?: string;
}

export type RouteTableSummary = Omit<EmuRouteTable, 'routes'>;

function summary(t: EmuRouteTable): RouteTableSummary {
  const { routes: _routes, ...rest } = t;
  return rest;
}

/** Canonical destination (host bits must be zero, as the API demands). */
function destinationOf(value: unknown, where: string): string {
  if (typeof value !== 'string' || !value) throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.destination is required.`);
  const p = parseCidr(value);
  if (!p.ok) throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.destination ${JSON.stringify(value)} is not a valid CIDR (${p.message}).`);
  return p.cidr;
}

function stringField(obj: Record<string, unknown>, key: string, where: string, required: boolean): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.${key} is required.`);
    return undefined;
  }
  if (typeof v !== 'string') throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.${key} must be a string.`);
  if (required && !v) throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.${key} is required.`);
  return v;
}

function checkDescription(d: string | undefined, where: string): void {
  if (d === undefined) return;
  if (d.length > 255) throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.description is longer than 255 characters.`);
  if (/[<>]/.test(d)) throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.description must not contain < or >.`);
}

function routeOf(raw: unknown, where: string): EmuRoute {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw VpcApiError.of('invalidParam', `Param is invalid: ${where} must be an object.`);
  const o = raw as Record<string, unknown>;
  const type = stringField(o, 'type', where, true)!;
  if (type === LOCAL_ROUTE_TYPE)
    throw VpcApiError.of('systemRoute', `Route type local is reserved for system routes and cannot be added or modified (${where}).`);
  if (!(ROUTE_TYPES as readonly string[]).includes(type))
    throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.type ${JSON.stringify(type)} is not one of ${ROUTE_TYPES.join(', ')}.`);
  const destination = destinationOf(o['destination'], where);
  const nexthop = stringField(o, 'nexthop', where, true)!;
  if (type === 'vip' && parseIpv4(nexthop) === undefined)
    throw VpcApiError.of('invalidParam', `Param is invalid: ${where}.nexthop of a vip route must be an IP address.`);
  const description = stringField(o, 'description', where, false);
  checkDescription(description, where);
  return { type, destination, nexthop, ...(description !== undefined ? { description } : {}) };
}

function listOf(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw VpcApiError.of('invalidParam', `Param is invalid: ${where} must be an array.`);
  return v;
}

function customCount(routes: readonly EmuRoute[]): number {
  return routes.filter((r) => r.type !== LOCAL_ROUTE_TYPE).length;
}

/**
 * Apply a PUT body to a copy of `table`; throws VpcApiError and leaves `table` untouched on any error.
 * Order: del, then mod, then add (so a del + add of one destination in one request replaces the route).
 */
function updatedTable(table: EmuRouteTable, body: unknown, quota: number, now: Date): EmuRouteTable {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw VpcApiError.of('invalidParam', 'Param is invalid: the request body must be a JSON object.');
  const rt = (body as Record<string, unknown>)['routetable'];
  if (!rt || typeof rt !== 'object' || Array.isArray(rt)) throw VpcApiError.of('invalidParam', 'Param is invalid: routetable is required.');
  const o = rt as Record<string, unknown>;
  const next: EmuRouteTable = structuredClone(table);
  const name = stringField(o, 'name', 'routetable', false);
  if (name !== undefined) {
    if (!/^[\p{L}\p{N}_.-]{1,64}$/u.test(name))
      throw VpcApiError.of('invalidParam', 'Param is invalid: routetable.name must be 1-64 letters, digits, _, - or . characters.');
    next.name = name;
  }
  const description = stringField(o, 'description', 'routetable', false);
  if (description !== undefined) {
    checkDescription(description, 'routetable');
    next.description = description;
  }
  const routes = o['routes'];
  if (routes !== undefined && routes !== null) {
    if (typeof routes !== 'object' || Array.isArray(routes))
      throw VpcApiError.of('invalidParam', 'Param is invalid: routetable.routes must be an object with add, mod and del.');
    const r = routes as Record<string, unknown>;
    const del = listOf(r['del'], 'routes.del');
    const mod = listOf(r['mod'], 'routes.mod');
    const add = listOf(r['add'], 'routes.add');
    const byDst = new Map(next.routes.map((x) => [x.destination, x] as const));
    const seen = (list: string[], dst: string, where: string): void => {
      if (list.includes(dst)) throw VpcApiError.of('invalidParam', `Param is invalid: destination ${dst} appears twice in ${where}.`);
      list.push(dst);
    };
    const delSeen: string[] = [];
    del.forEach((raw, i) => {
      if (!raw || typeof raw !== 'object') throw VpcApiError.of('invalidParam', `Param is invalid: routes.del[${i}] must be an object.`);
      const dst = destinationOf((raw as Record<string, unknown>)['destination'], `routes.del[${i}]`);
      seen(delSeen, dst, 'routes.del');
      const have = byDst.get(dst);
      if (!have) throw VpcApiError.of('routeNotFound', `Route ${dst} does not exist in route table ${table.id}.`);
      if (have.type === LOCAL_ROUTE_TYPE) throw VpcApiError.of('systemRoute', `Route ${dst} is a system route (type local) and cannot be deleted.`);
      byDst.delete(dst);
    });
    const modSeen: string[] = [];
    mod.forEach((raw, i) => {
      const route = routeOf(raw, `routes.mod[${i}]`);
      seen(modSeen, route.destination, 'routes.mod');
      const have = byDst.get(route.destination);
      if (!have)
        throw VpcApiError.of(
          'routeNotFound',
          `Route ${route.destination} does not exist in route table ${table.id}; a destination cannot be modified, delete the route and add a new one.`,
        );
      if (have.type === LOCAL_ROUTE_TYPE)
        throw VpcApiError.of('systemRoute', `Route ${route.destination} is a system route (type local) and cannot be modified.`);
      byDst.set(route.destination, {
        ...route,
        ...(route.description === undefined && have.description !== undefined ? { description: have.description } : {}),
      });
    });
    const addSeen: string[] = [];
    add.forEach((raw, i) => {
      const route = routeOf(raw, `routes.add[${i}]`);
      seen(addSeen, route.destination, 'routes.add');
      const have = byDst.get(route.destination);
      if (have) {
        const what = have.type === LOCAL_ROUTE_TYPE ? 'a system route (type local)' : 'a route';
        throw VpcApiError.of('destinationConflict', `Routes destination conflict: route table ${table.id} already has ${what} to ${route.destination}.`);
      }
      byDst.set(route.destination, route);
    });
    const after = [...byDst.values()];
    const count = customCount(after);
    if (count > quota && count > customCount(table.routes)) {
      throw VpcApiError.of(
        'routeQuota',
        `Quota exceeded for resources: ['route']. Route table ${table.id} would have ${count} routes; at most ${quota} are allowed.`,
      );
    }
    next.routes = after;
  }
  next.updated_at = now.toISOString().replace(/\.\d{3}Z$/, '');
  return next;
}

/** GET /v1/{project}/routetables: filters, then `marker` (the id after which the page starts) and `limit`. */
export function listTables(tables: readonly EmuRouteTable[], q: ListQuery): RouteTableSummary[] {
  let rows = tables.filter(
    (t) =>
      (q.id === undefined || t.id === q.id) &&
      (q.vpc_id === undefined || t.vpc_id === q.vpc_id) &&
      (q.subnet_id === undefined || t.subnets.some((s) => s.id === q.subnet_id)),
  );
  if (q.marker !== undefined && q.marker !== '') {
    const at = rows.findIndex((t) => t.id === q.marker);
    if (at < 0) throw VpcApiError.of('invalidParam', `Param is invalid: marker ${q.marker} is not a route table of this query.`);
    rows = rows.slice(at + 1);
  }
  if (q.limit !== undefined && q.limit !== '') {
    if (!/^\d+$/.test(q.limit)) throw VpcApiError.of('invalidParam', 'Param is invalid: limit must be a non-negative integer.');
    const n = Number(q.limit);
    if (n > 0) rows = rows.slice(0, n);
  }
  return rows.map(summary);
}

export interface StoreOptions {
  seed?: EmuStateInput;
  statePath?: string;
  routeQuota?: number;
  now?: () => number;
}

/** The emulator's state, with atomic persistence (write to a temporary file, fsync, rename). */
export class RouteTableStore {
  private state: EmuState;
  private saving: Promise<void> = Promise.resolve();
  readonly quota: number;
  private readonly now: () => number;

  private constructor(
    state: EmuState,
    readonly statePath: string | undefined,
    opts: StoreOptions,
  ) {
    this.state = state;
    this.quota = opts.routeQuota ?? DEFAULT_ROUTE_QUOTA;
    this.now = opts.now ?? Date.now;
  }

  /** Load the state file when it exists (it wins over the seed), else start from the seed and save it. */
  static async open(opts: StoreOptions): Promise<RouteTableStore> {
    let state: EmuState | undefined;
    if (opts.statePath) {
      let text: string | undefined;
      try {
        text = await readFile(opts.statePath, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (text !== undefined) {
        const parsed = EmuState.safeParse(JSON.parse(text));
        if (!parsed.success) throw new Error(`The emulator state file ${opts.statePath} is not valid: ${parsed.error.message}`);
        state = parsed.data;
      }
    }
    const fresh = state === undefined;
    state ??= EmuState.parse(opts.seed ?? {});
    const store = new RouteTableStore(state, opts.statePath, opts);
    const stamp = new Date(store.now()).toISOString().replace(/\.\d{3}Z$/, '');
    for (const p of Object.values(state.projects)) {
      for (const t of p.routetables) {
        t.created_at ??= stamp;
        t.updated_at ??= stamp;
        for (const r of t.routes) {
          const c = parseCidr(r.destination);
          if (c.ok) r.destination = c.cidr;
        }
      }
    }
    if (fresh && opts.statePath) await store.persist();
    return store;
  }

  hasProject(projectId: string): boolean {
    return Object.hasOwn(this.state.projects, projectId);
  }

  tables(projectId: string): EmuRouteTable[] {
    return this.state.projects[projectId]?.routetables ?? [];
  }

  table(projectId: string, id: string): EmuRouteTable | undefined {
    return this.tables(projectId).find((t) => t.id === id);
  }

  snapshot(): EmuState {
    return structuredClone(this.state);
  }

  /** Create or replace a table (auto-created tables, tests, the lab). */
  async putTable(projectId: string, table: EmuRouteTableInput): Promise<EmuRouteTable> {
    const t = EmuRouteTable.parse(table);
    const stamp = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, '');
    t.created_at ??= stamp;
    t.updated_at ??= stamp;
    const project = (this.state.projects[projectId] ??= { routetables: [] });
    const at = project.routetables.findIndex((x) => x.id === t.id);
    if (at >= 0) project.routetables[at] = t;
    else project.routetables.push(t);
    await this.persist();
    return structuredClone(t);
  }

  /** Replace a table's routes without any API rule (a change behind the agent's back). */
  async setRoutes(projectId: string, id: string, routes: EmuRoute[]): Promise<void> {
    const t = this.table(projectId, id);
    if (!t) throw new Error(`no route table ${id} in project ${projectId}`);
    t.routes = routes.map((r) => ({ ...r }));
    t.updated_at = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, '');
    await this.persist();
  }

  async update(projectId: string, id: string, body: unknown): Promise<EmuRouteTable> {
    const project = this.state.projects[projectId];
    const at = project?.routetables.findIndex((t) => t.id === id) ?? -1;
    if (!project || at < 0) throw VpcApiError.of('routeTableNotFound', `RouteTable ${id} is not exist.`);
    const next = updatedTable(project.routetables[at]!, body, this.quota, new Date(this.now()));
    project.routetables[at] = next;
    await this.persist();
    return structuredClone(next);
  }

  async replaceState(state: EmuStateInput): Promise<void> {
    this.state = EmuState.parse(state);
    await this.persist();
  }

  /** Resolves when every save so far is on disk. */
  flushed(): Promise<void> {
    return this.saving;
  }

  private persist(): Promise<void> {
    const path = this.statePath;
    if (!path) return Promise.resolve();
    const text = `${JSON.stringify(this.state, null, 2)}\n`;
    this.saving = this.saving.catch(() => undefined).then(() => writeAtomic(path, text));
    return this.saving;
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
