// What a fake core answers to GET /v1/status for the rollout tests: one gateway host per site, which applied a
// revision or not, and the last error it had (a hook that failed in apply halts a rollout; a fetch error does not).
import type { FleetStatus } from '../../src/report/site/schema.js';

/** One site as the fake core reports it: the revision its gateway applied, and its last error. */
export interface GatewayView {
  applied?: string;
  error?: { step: string; message: string };
}

/** The hook failure that halts a rollout (an error in applying the revision). */
export const HOOK_FAILED = { step: 'apply', message: 'hook dragonfly-restart exited 1' } as const;

/** A core's status of `sites`, each with one gateway host `gw1`, at `now`. */
export function oneGatewayFleetStatus(sites: Readonly<Record<string, GatewayView>>, now: number, core = 'ap-singapore'): FleetStatus {
  const at = new Date(now).toISOString();
  return {
    core,
    at,
    sites: Object.entries(sites).map(([site, v]) => ({
      site,
      gateway: `${site}-gw1`,
      hosts: [
        {
          site,
          host: 'gw1',
          roles: ['gateway'],
          agentVersion: '1.0.0',
          ...(v.applied ? { wanted: v.applied, applied: v.error ? undefined : v.applied } : {}),
          drift: {},
          ...(v.error ? { lastError: { ...v.error, at } } : {}),
          steering: 0,
          suspended: false,
          at,
          lastSeen: at,
          stale: false,
        },
      ],
      summary: {
        hosts: 1,
        ...(v.applied ? { revision: v.applied } : {}),
        applied: v.applied && !v.error ? 1 : 0,
        failing: v.error ? ['gw1'] : [],
        drifting: {},
        stale: [],
        suspended: false,
        state: v.error ? 'failing' : 'in-sync',
      },
      steering: { generation: 0 },
      at,
      lastSeen: at,
      silent: false,
      wantedSteering: { generation: 0 },
    })),
  };
}
