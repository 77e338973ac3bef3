// What travels up the tree (node → its site's gateway → its core) and back down (steering): the shapes every
// agent parses with zod before it believes anything in a report or a push. Issue 13's design in one file.
import { z } from 'zod';
import { EVENT_KINDS } from '../../model/schema.js';

/** At most this many events ride on one report; the oldest are dropped first (and counted in `droppedEvents`). */
export const MAX_EVENTS_PER_REPORT = 100;

const name = z.string().min(1).max(253);
const revision = z.string().min(1).max(128);
const isoTime = z.string().min(1).max(64);

export const ReportedEvent = z.object({
  kind: z.enum(EVENT_KINDS),
  site: name,
  revision: z.string().max(128),
  message: z.string().max(4096),
  component: z.string().max(128).optional(),
  changes: z
    .array(z.object({ provider: z.string().max(64), id: z.string().max(512), action: z.string().max(32), reason: z.string().max(1024) }))
    .max(50)
    .optional(),
  diff: z.string().max(4096).optional(),
  fingerprint: z.string().max(128),
  origin: z.enum(['revision', 'drift']).optional(),
  hosts: z.array(name).max(1000).optional(),
  at: isoTime,
});
export type ReportedEvent = z.infer<typeof ReportedEvent>;

/** Who holds a site still, and why (`by` is the operator's principal from the allowed-signers file). */
const Suspension = z.object({ by: z.string().max(256), reason: z.string().max(1024), at: isoTime });
type Suspension = z.infer<typeof Suspension>;

/** What the operators asked of a site; `generation` grows with every request, so a child knows what it has seen. */
export const Steering = z.object({
  generation: z.number().int().nonnegative(),
  suspended: Suspension.optional(),
  /** `mirrornet reconcile`: a child that has not run this generation's reconcile runs one now. */
  reconcile: z.object({ generation: z.number().int().nonnegative(), by: z.string().max(256), at: isoTime }).optional(),
});
export type Steering = z.infer<typeof Steering>;

export const NO_STEERING: Steering = { generation: 0 };

/** One host's state as its agent reports it (node → gateway; the gateway's own too). */
export const HostReport = z.object({
  site: name,
  host: name,
  roles: z.array(z.string().max(32)).max(8),
  agentVersion: z.string().max(64),
  /** The newest revision the host's source offers. */
  wanted: revision.optional(),
  applied: revision.optional(),
  appliedAt: isoTime.optional(),
  /** Open drift: resources that differ, per component (absent: none). */
  drift: z.record(z.string().max(64), z.number().int().nonnegative()).default({}),
  lastError: z.object({ step: z.string().max(64), message: z.string().max(2048), at: isoTime }).optional(),
  /** The Steering generation the host holds (what it last received). */
  steering: z.number().int().nonnegative().default(0),
  suspended: z.boolean().default(false),
  /** The host's site retired (`lifecycle: retiring`) and its agent removed everything it created; it reports no more. */
  retired: z.boolean().optional(),
  /** Events since the last report, oldest first. */
  events: z.array(ReportedEvent).max(MAX_EVENTS_PER_REPORT).default([]),
  droppedEvents: z.number().int().nonnegative().default(0),
  at: isoTime,
  /** The host's own --listen URL, where its parent pushes steering. */
  url: z.url().max(512).optional(),
});
export type HostReport = z.infer<typeof HostReport>;

/** A host as its gateway keeps it: the last report (without its events) and when it came. */
export const HostState = HostReport.omit({ events: true, droppedEvents: true }).extend({
  lastSeen: isoTime,
  /** No report for more than three intervals. */
  stale: z.boolean(),
});
export type HostState = z.infer<typeof HostState>;

/** A site in a few numbers and names (what a commit status and `mirrornet status` say). */
export const SiteSummary = z.object({
  hosts: z.number().int().nonnegative(),
  /** The revision most of the site's hosts want, and how many applied it. */
  revision: revision.optional(),
  applied: z.number().int().nonnegative(),
  failing: z.array(name),
  drifting: z.record(z.string(), z.array(name)),
  stale: z.array(name),
  suspended: z.boolean(),
  /** in-sync | pending | drifting | failing | stale | suspended | empty | retired (every host retired) */
  state: z.enum(['in-sync', 'pending', 'drifting', 'failing', 'stale', 'suspended', 'empty', 'retired']),
});
export type SiteSummary = z.infer<typeof SiteSummary>;

/** A site as its gateway reports it to its core (and as the core keeps it). */
export const SiteReport = z.object({
  site: name,
  area: z.string().max(32).optional(),
  gateway: name,
  hosts: z.array(HostState).max(10_000),
  summary: SiteSummary,
  /** Site events (already aggregated by the gateway) the core relays: chat channels only the core reaches, commit statuses. */
  events: z.array(ReportedEvent).max(MAX_EVENTS_PER_REPORT).default([]),
  steering: Steering,
  at: isoTime,
  url: z.url().max(512).optional(),
});
export type SiteReport = z.infer<typeof SiteReport>;

/** A core's answer to GET /v1/status: every site of its area it heard from. */
export const FleetStatus = z.object({
  core: name,
  at: isoTime,
  sites: z.array(
    SiteReport.omit({ events: true }).extend({
      lastSeen: isoTime,
      /** The gateway has not reported for more than three intervals (site-silent was raised). */
      silent: z.boolean(),
      /** What the core asked of the site (the gateway's `steering` says what it holds). */
      wantedSteering: Steering,
    }),
  ),
});
export type FleetStatus = z.infer<typeof FleetStatus>;

/** POST /v1/steer on a core (operator-signed). */
export const SteerRequest = z
  .object({
    site: name.optional(),
    all: z.boolean().optional(),
    action: z.enum(['suspend', 'resume', 'reconcile']),
    reason: z.string().max(1024).optional(),
  })
  .refine((r) => Boolean(r.site) !== Boolean(r.all), { message: 'name one site, or all: true' })
  .refine((r) => r.action !== 'suspend' || (r.reason?.trim().length ?? 0) > 0, { message: 'a suspension needs a reason' });
export type SteerRequest = z.infer<typeof SteerRequest>;
