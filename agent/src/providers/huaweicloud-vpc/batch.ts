// One update of a route table as a batch of adds and deletes, and what of it is still to do after an
// interruption that leaves its outcome unknown: re-read the table and send only the rest, so a retry never
// adds a route twice nor deletes a route it did not see. Pure.
import { HuaweiVpcError } from './errors.js';
import type { RouteEntry } from './schema.js';

/** Routes to add and routes to delete in one route table, sent in one PUT. */
export interface RouteBatch {
  add: RouteEntry[];
  /** The routes as last seen (destination, type, next hop, description): a retry deletes only these. */
  del: RouteEntry[];
}

export function sameRoute(a: RouteEntry, b: RouteEntry): boolean {
  return a.destination === b.destination && a.type === b.type && a.nexthop === b.nexthop && (a.description ?? '') === (b.description ?? '');
}

/**
 * What of `batch` is still to do on a table that now has `current` routes: deletes of routes still there
 * exactly as they were seen, adds not there yet. A destination taken meanwhile by a route that is neither
 * the one we add nor one we delete is a conflict (someone else changed the table): thrown, not overwritten.
 */
export function remainingBatch(tableId: string, batch: RouteBatch, current: readonly RouteEntry[]): RouteBatch {
  const byDst = new Map(current.map((r) => [r.destination, r] as const));
  const del = batch.del.filter((d) => {
    const have = byDst.get(d.destination);
    return have !== undefined && sameRoute(have, d);
  });
  const deleting = new Set(del.map((d) => d.destination));
  const add: RouteEntry[] = [];
  for (const a of batch.add) {
    const have = byDst.get(a.destination);
    if (!have || deleting.has(a.destination)) add.push(a);
    else if (!sameRoute(have, a)) {
      const operation = `updating route table ${tableId}`;
      throw new HuaweiVpcError({
        kind: 'conflict',
        operation,
        message: `route ${a.destination} in table ${tableId} changed while it was being updated`,
        userMessage:
          `Route table ${tableId} changed while mirrornet was updating it: ${a.destination} now goes to ${have.type} ${have.nexthop}. ` +
          'Nothing was overwritten; the next reconcile plans again from what is there.',
      });
    }
  }
  return { add, del };
}
