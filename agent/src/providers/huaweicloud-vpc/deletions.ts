// What a route-table change really deletes, for the guardrails. Kept apart from the SDK client so the
// agent's reconcile engine does not load the SDK for it.
import type { Change } from '../types.js';

interface Batch {
  add: { destination: string }[];
  del: { destination: string }[];
}

/**
 * Destinations a huaweicloud-vpc change removes for good (deleted, not re-added): for guardrails
 * (maxDeletionsPerApply, protectedDestinations), since one Change carries a whole table's batch.
 */
export function cloudRouteDeletions(change: Change): string[] {
  if (change.provider !== 'huaweicloud-vpc') return [];
  const data = change.data as Batch | undefined;
  if (!data) return [];
  const added = new Set(data.add.map((r) => r.destination));
  return data.del.filter((r) => !added.has(r.destination)).map((r) => r.destination);
}
