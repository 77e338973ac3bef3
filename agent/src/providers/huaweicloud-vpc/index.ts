// Huawei Cloud VPC route tables: the routes the fleet assigns to a cloud site (type vpn, peering, cc, ecs
// with the link's next hop), programmed in the site's route tables through the VPC v1 API.
//
// - Read: show each route table named for this site (and each table in the inventory); the list call has
//   no routes, so it is not used. A no-op reconcile is one GET per table and no write.
// - Diff (pure): one Change per route table that needs anything, its `data` the batched {add, del}. A
//   changed next hop, type or description is del + add (the API cannot modify a destination).
// - Ownership: a route is mirrornet's when its description starts with the site's marker
//   (`mirrornet:<site>`). Routes of type `local` and routes without the marker are never touched, only
//   reported; one of them on a destination the repository wants is a conflict, reported and left alone.
//   Pruning removes marked routes only, and only in tables named for the site or in the inventory.
// - Quota: 200 routes per table (system `local` routes not counted), checked before any call.
// - Apply: one updateRouteTable per table with all adds and deletes, after re-reading the table so a stale
//   plan never deletes a route someone changed; a failed table leaves its plan to the next tick.
import { MirrornetError, userMessageOf } from '../../errors.js';
import { createHash } from 'node:crypto';
import { CLOUD_MARKER } from '../../desired/compile.js';
import { HUAWEI_VPC_QUOTAS } from '../../model/constraints/huaweicloud-vpc.js';
import type { Desired, DesiredCloudRoute } from '../../desired/types.js';
import type { ApplyOutcome, Change, Provider, ProviderContext } from '../types.js';
import { remainingBatch, sameRoute, type RouteBatch } from './batch.js';
import { createVpcClient, type VpcRouteApi } from './client.js';
import { resolveHuaweiCredentials, vpcEndpoint } from './credentials.js';
import { HuaweiVpcError } from './errors.js';
import type { RetryOptions } from './retry.js';
import type { RouteEntry } from './schema.js';

import { cloudRouteDeletions } from './deletions.js';
export { cloudRouteDeletions };
const ROUTE_QUOTA: number = HUAWEI_VPC_QUOTAS.routesPerTable;
const LOCAL = 'local';

export interface ActualTable {
  id: string;
  found: boolean;
  name?: string;
  vpcId?: string;
  routes: RouteEntry[];
}

export interface ActualCloud {
  projectId: string;
  endpoint: string;
  marker: string;
  tables: ActualTable[];
}

/** The change data of one route table. */
export interface CloudChangeData extends RouteBatch {
  tableId: string;
  /** Set when the change would exceed the quota: apply refuses it before any call. */
  refusal?: string;
}

interface Conflict {
  destination: string;
  wanted: RouteEntry;
  existing: RouteEntry;
  /** `local`: a system route; `foreign`: a route without this site's marker. */
  why: 'local' | 'foreign';
}

export interface TablePlan {
  tableId: string;
  found: boolean;
  add: RouteEntry[];
  del: RouteEntry[];
  /** Desired routes already there as wanted. */
  inSync: number;
  /** Routes neither `local` nor carrying the marker (left alone). */
  foreign: RouteEntry[];
  local: number;
  conflicts: Conflict[];
  /** Custom (non-local) routes before and after the change. */
  countBefore: number;
  countAfter: number;
  refusal?: string;
}

function markerOf(desired: Desired): string {
  return desired.cloud?.marker ?? `${CLOUD_MARKER}${desired.site}`;
}

/** Ours: not a system route, and the description is the marker or starts with the marker and a space. */
export function isOwned(route: RouteEntry, marker: string): boolean {
  if (route.type === LOCAL) return false;
  const d = route.description ?? '';
  return d === marker || d.startsWith(`${marker} `);
}

function entryOf(r: DesiredCloudRoute): RouteEntry {
  return { type: r.type, destination: r.destination, nexthop: r.nexthop, description: r.description };
}

function show(r: RouteEntry): string {
  return `${r.destination} (${r.type} ${r.nexthop})`;
}

function few(list: readonly RouteEntry[], n = 5): string {
  const head = list.slice(0, n).map(show).join(', ');
  return list.length > n ? `${head} and ${list.length - n} more` : head;
}

/** Pure: what one table needs. `wanted` undefined or empty prunes every marked route. */
export function planTable(
  tableId: string,
  wanted: readonly DesiredCloudRoute[] | undefined,
  actual: ActualTable | undefined,
  marker: string,
  quota = ROUTE_QUOTA,
): TablePlan {
  const routes = actual?.found ? actual.routes : [];
  const byDst = new Map(routes.map((r) => [r.destination, r] as const));
  const add: RouteEntry[] = [];
  const del: RouteEntry[] = [];
  const conflicts: Conflict[] = [];
  let inSync = 0;
  const wantedDst = new Set<string>();
  for (const w of wanted ?? []) {
    if (wantedDst.has(w.destination)) continue;
    wantedDst.add(w.destination);
    const want = entryOf(w);
    const have = byDst.get(w.destination);
    if (!have) add.push(want);
    else if (have.type === LOCAL) conflicts.push({ destination: w.destination, wanted: want, existing: have, why: 'local' });
    else if (!isOwned(have, marker)) conflicts.push({ destination: w.destination, wanted: want, existing: have, why: 'foreign' });
    else if (sameRoute(have, want)) inSync++;
    else {
      del.push(have);
      add.push(want);
    }
  }
  for (const r of routes) if (isOwned(r, marker) && !wantedDst.has(r.destination)) del.push(r);
  const foreign = routes.filter((r) => r.type !== LOCAL && !isOwned(r, marker));
  const local = routes.filter((r) => r.type === LOCAL).length;
  const countBefore = routes.length - local;
  const countAfter = countBefore - del.length + add.length;
  const plan: TablePlan = { tableId, found: actual?.found ?? false, add, del, inSync, foreign, local, conflicts, countBefore, countAfter };
  if (countAfter > quota && countAfter > countBefore) {
    plan.refusal =
      `route table ${tableId} would have ${countAfter} routes (${foreign.length} not mirrornet's, ${countAfter - foreign.length} of mirrornet); ` +
      `Huawei Cloud allows ${quota} per table, so mirrornet refuses to change it. Route fewer destinations through this site or remove routes from the table.`;
  }
  return plan;
}

function foreignNote(plan: TablePlan): string {
  const parts: string[] = [];
  if (plan.foreign.length) parts.push(`${plan.foreign.length} route${plan.foreign.length === 1 ? '' : 's'} without the mirrornet marker`);
  if (plan.local) parts.push(`${plan.local} local route${plan.local === 1 ? '' : 's'}`);
  return parts.length ? `; left alone: ${parts.join(' and ')}` : '';
}

function conflictText(tableId: string, c: Conflict): string {
  const owner =
    c.why === 'local'
      ? 'a system (local) route'
      : `a route mirrornet does not own (${c.existing.type} ${c.existing.nexthop}${c.existing.description ? `, "${c.existing.description}"` : ''})`;
  return (
    `route table ${tableId}: ${c.destination} should go to ${c.wanted.type} ${c.wanted.nexthop}, but it is taken by ${owner}; ` +
    `mirrornet does not overwrite it. Remove that route or stop routing ${c.destination} through this site.`
  );
}

function conflictNote(plan: TablePlan): string {
  if (!plan.conflicts.length) return '';
  return `; CONFLICT on ${plan.conflicts.map((c) => c.destination).join(', ')} (taken by routes mirrornet does not own; not overwritten)`;
}

/** Pure: one Change per route table of the site and per route table left in the inventory. */
export function diffCloudRoutes(desired: Desired, actual: ActualCloud, owned: ReadonlySet<string>, quota = ROUTE_QUOTA): Change[] {
  const marker = markerOf(desired);
  const changes: Change[] = [];
  const byId = new Map(actual.tables.map((t) => [t.id, t] as const));
  const desiredTables = desired.cloud?.tables ?? [];
  const desiredIds = new Set(desiredTables.map((t) => t.id));
  for (const t of desiredTables) {
    const have = byId.get(t.id);
    const plan = planTable(t.id, t.routes, have, marker, quota);
    if (!plan.found) {
      changes.push({
        provider: 'huaweicloud-vpc',
        id: t.id,
        action: 'noop',
        reason:
          `route table ${t.id} does not exist in project ${actual.projectId}: ` +
          `its ${t.routes.length} routes cannot be programmed (check cloud.routeTables)`,
      });
      continue;
    }
    const data: CloudChangeData = { tableId: t.id, add: plan.add, del: plan.del, ...(plan.refusal ? { refusal: plan.refusal } : {}) };
    if (!plan.add.length && !plan.del.length) {
      changes.push({
        provider: 'huaweicloud-vpc',
        id: t.id,
        action: 'noop',
        reason: `in sync: ${plan.inSync} route${plan.inSync === 1 ? '' : 's'} of mirrornet${foreignNote(plan)}${conflictNote(plan)}`,
      });
      continue;
    }
    const addDst = new Set(plan.add.map((r) => r.destination));
    const replaced = plan.del.filter((r) => addDst.has(r.destination));
    const removed = plan.del.filter((r) => !addDst.has(r.destination));
    const replacedDst = new Set(replaced.map((r) => r.destination));
    const added = plan.add.filter((r) => !replacedDst.has(r.destination));
    const what: string[] = [];
    if (added.length) what.push(`add ${few(added)}`);
    if (replaced.length) what.push(`replace ${few(replaced)} (next hop, type or description changed: delete and add)`);
    if (removed.length) what.push(`remove ${few(removed)} (no longer in the repository)`);
    const reason = plan.refusal ? `REFUSED: ${plan.refusal}` : `route table ${t.id}: ${what.join('; ')}${foreignNote(plan)}${conflictNote(plan)}`;
    // The table is not ours, but mirrornet's routes in it are: remember it to clean them up later.
    changes.push({
      provider: 'huaweicloud-vpc',
      id: t.id,
      action: 'update',
      reason,
      before: { routes: plan.del },
      after: { routes: plan.add },
      data,
      track: true,
    });
  }
  for (const id of [...owned].filter((x) => !desiredIds.has(x)).sort()) {
    const have = byId.get(id);
    const plan = planTable(id, [], have, marker, quota);
    const data: CloudChangeData = { tableId: id, add: [], del: plan.del };
    const reason = !plan.found
      ? `route table ${id} no longer exists: forget it`
      : plan.del.length
        ? `route table ${id} is no longer in the repository: ` +
          `remove mirrornet's ${plan.del.length} route${plan.del.length === 1 ? '' : 's'} (${few(plan.del)})${foreignNote(plan)}`
        : `route table ${id} is no longer in the repository and has no mirrornet routes left: forget it`;
    changes.push({ provider: 'huaweicloud-vpc', id, action: 'delete', reason, before: { routes: plan.del }, data });
  }
  for (const c of changes) {
    const gone = cloudRouteDeletions(c);
    if (gone.length) c.deletedRoutes = gone;
  }
  return changes;
}

/** A client, or how to get one at read/apply time (credentials from the host's secrets). */
export type VpcClientSource = VpcRouteApi | ((ctx: ProviderContext, desired: Desired) => VpcRouteApi | Promise<VpcRouteApi>);

export class RouteQuotaRefusal extends MirrornetError {
  constructor(message: string) {
    super(`Refused: ${message}`, { message });
  }
}

export class CloudRoutesApplyError extends MirrornetError {
  constructor(
    readonly failures: { table: string; message: string }[],
    total: number,
    opts?: { cause?: unknown },
  ) {
    const lines = failures.map((f) => `  - ${f.table}: ${f.message}`).join('\n');
    const msg =
      `${failures.length} of ${total} Huawei Cloud route table${total === 1 ? '' : 's'} could not be updated; ` +
      `the next reconcile plans again from what is there:\n${lines}`;
    super(msg, opts);
  }
}

export interface HuaweiVpcProviderOptions {
  quota?: number;
}

export function createHuaweiVpcProvider(source: VpcClientSource, opts: HuaweiVpcProviderOptions = {}): Provider<ActualCloud> {
  const quota = opts.quota ?? ROUTE_QUOTA;
  const clientFor = async (ctx: ProviderContext, desired: Desired): Promise<VpcRouteApi> =>
    typeof source === 'function' ? await source(ctx, desired) : source;

  return {
    id: 'huaweicloud-vpc',
    wants: (desired) => desired.cloud !== undefined,

    async read(ctx, desired): Promise<ActualCloud> {
      const client = await clientFor(ctx, desired);
      const marker = markerOf(desired);
      const ids = [...new Set([...(desired.cloud?.tables ?? []).map((t) => t.id), ...(ctx.inventory ?? [])])];
      const tables: ActualTable[] = [];
      for (const id of ids) {
        try {
          const t = await client.showRouteTable(id);
          tables.push({ id, found: true, ...(t.name ? { name: t.name } : {}), ...(t.vpc_id ? { vpcId: t.vpc_id } : {}), routes: t.routes });
        } catch (err) {
          if (err instanceof HuaweiVpcError && err.kind === 'not-found') tables.push({ id, found: false, routes: [] });
          else throw err;
        }
      }
      const actual: ActualCloud = { projectId: client.projectId, endpoint: client.endpoint, marker, tables };
      for (const t of desired.cloud?.tables ?? []) {
        const have = tables.find((x) => x.id === t.id);
        if (!have?.found) {
          ctx.notes.push(`Huawei Cloud route table ${t.id} does not exist in project ${client.projectId}: check cloud.routeTables of ${desired.site}.`);
          continue;
        }
        const plan = planTable(t.id, t.routes, have, marker, quota);
        for (const c of plan.conflicts) ctx.notes.push(conflictText(t.id, c));
        if (plan.refusal) ctx.notes.push(plan.refusal);
      }
      return actual;
    },

    diff: (desired, actual, owned) => diffCloudRoutes(desired, actual, owned, quota),

    async apply(ctx, changes, desired): Promise<ApplyOutcome> {
      const outcome: ApplyOutcome = { applied: [], deleted: [] };
      const todo = changes.filter((c) => c.provider === 'huaweicloud-vpc' && c.action !== 'noop');
      if (!todo.length) return outcome;
      const failures: { table: string; message: string }[] = [];
      let first: unknown;
      // Refusals first, before any call at all.
      for (const c of todo) {
        const data = c.data as CloudChangeData | undefined;
        if (data?.refusal) {
          failures.push({ table: c.id, message: new RouteQuotaRefusal(data.refusal).userMessage });
          first ??= new RouteQuotaRefusal(data.refusal);
        }
      }
      const client = await clientFor(ctx, desired);
      for (const c of todo) {
        const planned = c.data as CloudChangeData | undefined;
        if (!planned || planned.refusal) continue;
        try {
          // Re-read: the plan may be older than the table. Send what the plan holds minus what is already
          // done; never more (a delete only of a route still there exactly as planned), so what was
          // reviewed and guarded is an upper bound of what happens.
          let routes: RouteEntry[];
          try {
            routes = (await client.showRouteTable(c.id)).routes;
          } catch (err) {
            if (c.action === 'delete' && err instanceof HuaweiVpcError && err.kind === 'not-found') {
              outcome.applied.push(c);
              outcome.deleted.push(c.id);
              continue;
            }
            throw err;
          }
          const batch = remainingBatch(c.id, { add: planned.add, del: planned.del }, routes);
          const before = routes.filter((r) => r.type !== LOCAL).length;
          const after = before - batch.del.length + batch.add.length;
          if (after > quota && after > before)
            throw new RouteQuotaRefusal(
              `route table ${c.id} would have ${after} routes; Huawei Cloud allows ${quota} per table, so mirrornet refuses to change it.`,
            );
          if (batch.add.length || batch.del.length) {
            await client.updateRouteTable(c.id, batch);
            ctx.log.info({ table: c.id, added: batch.add.length, deleted: batch.del.length }, 'route table updated');
          } else {
            ctx.log.info({ table: c.id }, 'route table already as planned');
          }
          outcome.applied.push(c);
          if (c.action === 'delete') outcome.deleted.push(c.id);
        } catch (err) {
          const e = err as HuaweiVpcError;
          ctx.log.error({ table: c.id, kind: e.kind, status: e.status, code: e.code, requestId: e.requestId }, 'route table update failed');
          failures.push({ table: c.id, message: userMessageOf(err) });
          first ??= err;
        }
      }
      if (failures.length) throw new CloudRoutesApplyError(failures, todo.length, { cause: first });
      return outcome;
    },
  };
}

export interface HuaweiVpcClientFactoryOptions {
  /** Endpoint override (else MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT, else https://vpc.<region>.myhuaweicloud.com). */
  endpoint?: string;
  /** Secret references (env:NAME, file:/path) resolved with the host's secrets; else HUAWEICLOUD_SDK_AK/SK. */
  akRef?: string;
  skRef?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  retry?: RetryOptions;
  /** Used when the repository no longer describes the site's cloud (pruning what the inventory holds). */
  projectId?: string;
  region?: string;
}

/**
 * A client source for `createHuaweiVpcProvider`: resolves the credentials with the context's secrets on
 * first use and builds one SDK client per project and endpoint (reused across ticks).
 */
export function huaweiVpcClientFactory(opts: HuaweiVpcClientFactoryOptions = {}): (ctx: ProviderContext, desired: Desired) => Promise<VpcRouteApi> {
  const cache = new Map<string, VpcRouteApi>();
  return async (ctx, desired) => {
    const projectId = desired.cloud?.projectId ?? opts.projectId;
    const region = desired.cloud?.region ?? opts.region;
    if (!projectId || !region) {
      throw new HuaweiVpcError({
        kind: 'config',
        operation: 'configuring the Huawei Cloud client',
        message: 'no project id or region',
        userMessage:
          `${desired.site} has no Huawei Cloud project id and region in the repository, so mirrornet cannot reach the route tables it still holds ` +
          'in its inventory. Restore cloud.projectId and cloud.region, or give them to the agent.',
      });
    }
    const endpoint = vpcEndpoint(region, { ...(opts.endpoint ? { override: opts.endpoint } : {}), ...(opts.env ? { env: opts.env } : {}) });
    const { ak, sk } = await resolveHuaweiCredentials({
      secrets: ctx.secrets,
      ...(opts.akRef ? { akRef: opts.akRef } : {}),
      ...(opts.skRef ? { skRef: opts.skRef } : {}),
      ...(opts.env ? { env: opts.env } : {}),
    });
    const key = createHash('sha256').update(`${endpoint}\n${projectId}\n${ak}\n${sk}`).digest('hex');
    let client = cache.get(key);
    if (!client) {
      client = createVpcClient({
        endpoint,
        ak,
        sk,
        projectId,
        log: ctx.log,
        ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.retry ? { retry: opts.retry } : {}),
      });
      cache.set(key, client);
    }
    return client;
  };
}
