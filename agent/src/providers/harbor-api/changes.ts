// What read, diff and apply of the harbor-api provider share: the actual state read from Harbor, the
// changes' ids (`<instance>/<kind>/<name>`) and data, and the order changes apply in.
//
// Order across the two cores. A push policy on the source core uses a registry endpoint whose credentials
// are the destination core's replication robot, and replicates into the destination's projects. So: the
// destination's projects and robots first, then the source's registry endpoint, then its policy; deletions
// run the other way round. orderHarborChanges sorts any mix of changes of one or several cores that way;
// each core's agent applies its own plan in that order. An agent whose peer is not ready yet simply
// retries: creating the endpoint fails with Harbor's 400 "the registry is unhealthy" while the other core
// does not answer, and the next tick converges.
import type { DesiredPolicy, DesiredProject, DesiredRegistry, DesiredRobot } from '../../desired/harbor.js';
import type { Change } from '../types.js';
import type { Project, Quota, Registry, ReplicationPolicy, Robot } from './schema.js';

export const PROVIDER_ID = 'harbor-api' as const;

export interface ActualHarbor {
  instance?: string;
  url?: string;
  projects: Project[];
  quotas: Quota[];
  registries: Registry[];
  policies: ReplicationPolicy[];
  robots: Robot[];
  /** Fingerprints of the secrets the repository wants, by change id (undefined: not resolvable here). */
  fingerprints: Record<string, string | undefined>;
}

export const EMPTY_ACTUAL: ActualHarbor = { projects: [], quotas: [], registries: [], policies: [], robots: [], fingerprints: {} };

// ---- Changes ----------------------------------------------------------------------------------------------

export type HarborKind = 'robot' | 'project' | 'quota' | 'registry' | 'policy';

export type HarborChangeData =
  | { kind: 'project'; instance: string; project: DesiredProject }
  | { kind: 'quota'; instance: string; project: string; quotaId: number; storage: number }
  | { kind: 'registry'; instance: string; registry: DesiredRegistry; registryId?: number }
  | { kind: 'policy'; instance: string; policy: DesiredPolicy; policyId?: number }
  | { kind: 'robot'; instance: string; robot: DesiredRobot; robotId?: number; fullName: string; repin: boolean; pinOnly: boolean }
  | { kind: 'delete'; instance: string; of: Exclude<HarborKind, 'quota'>; name: string; id: number };

export function changeId(instance: string, kind: HarborKind, name: string): string {
  return `${instance}/${kind}/${name}`;
}

// ---- Order ------------------------------------------------------------------------------------------------

/**
 * Rank of a change in a plan of one or several cores: projects and quotas, then robots (their permissions
 * name projects) - together the destination's side -, then registry endpoints (their credentials are the
 * other core's robot), then proxy-cache projects (they reference a registry), then policies; deletions
 * after all of that, in reverse dependency order.
 */
export function harborChangeRank(c: Change): number {
  const d = c.data as HarborChangeData | undefined;
  const kind = (d?.kind === 'delete' ? d.of : d?.kind) ?? (c.id.split('/')[1] as HarborKind | undefined);
  if (c.action === 'delete') return { policy: 6, robot: 7, project: 8, quota: 8, registry: 9 }[kind ?? 'policy'] ?? 10;
  if (c.action === 'noop') return 0;
  switch (kind) {
    case 'project':
      return d?.kind === 'project' && d.project.proxyCache ? 4 : 1;
    case 'quota':
      return 1;
    case 'robot':
      return 2;
    case 'registry':
      return 3;
    case 'policy':
      return 5;
    default:
      return 10;
  }
}

/** Stable sort of changes (of one or several cores) into the order they can be applied. */
export function orderHarborChanges(changes: readonly Change[]): Change[] {
  return changes
    .map((c, i) => ({ c, i, r: harborChangeRank(c) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.c);
}
