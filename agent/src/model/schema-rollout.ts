// policies/rollout.yaml (issue 14): the order in which a merged revision reaches the fleet. Ordered waves of
// sites (named, or selected by area, provider, role or label: the first wave that matches a site wins), how
// long a wave must stay healthy before the next one gets the revision (soakTime), what healthy means, and
// change windows per area outside which a revision waits unless its commit is marked as an emergency. Its own
// file because schema.ts is full; the publisher's rollout controller (report/rollout/) reads it, and
// `mirrornet validate` checks it (policy/rules/rollout.ts).
import { z } from 'zod';
import { Area, Duration, Name, Provider } from './field-formats.js';

/** What a site must show, every check named, to count as healthy for a wave's soak. */
const HEALTH_CHECKS = ['applied', 'noDrift', 'ready'] as const;
export type HealthCheck = (typeof HEALTH_CHECKS)[number];

const WaveMatch = z.strictObject({
  areas: z.array(Area).optional().describe('Sites of these areas (cn, overseas).'),
  providers: z.array(Provider).optional().describe('Sites of these providers (huaweicloud, aws, idc).'),
  roles: z
    .array(z.enum(['hub', 'region']))
    .optional()
    .describe('Cores (hub) or regions.'),
  labels: z.record(z.string(), z.string()).optional().describe('Sites whose labels have every one of these values, e.g. {canary: "true"}.'),
});

const Wave = z.strictObject({
  name: Name,
  description: z.string().optional(),
  sites: z.array(Name).optional().describe('Sites of this wave by name; a site named here belongs to this wave whatever another wave matches.'),
  match: WaveMatch.optional().describe(
    'Sites of this wave by what they are (every key present must match); a site that no wave names is in the first wave that matches it.',
  ),
});

const ChangeWindow = z.strictObject({
  name: Name,
  description: z.string().optional(),
  area: Area.describe('The area whose sites take new revisions only inside this window (an area without windows takes them any time).'),
  schedule: z
    .string()
    .min(1)
    .describe('When each window opens: a five-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 2 * * 1-5".'),
  duration: Duration.describe('How long each window stays open.'),
  timeZone: z.string().min(1).describe('The IANA time zone of the schedule, e.g. Asia/Shanghai or UTC.'),
});

export const RolloutPolicy = z.strictObject({
  kind: z.literal('RolloutPolicy'),
  name: Name,
  description: z.string().optional(),
  soakTime: Duration.default('10m').describe('How long every site of a wave must stay healthy before the next wave gets the revision.'),
  healthy: z
    .array(z.enum(HEALTH_CHECKS))
    .min(1)
    .default([...HEALTH_CHECKS])
    .describe('What healthy means: applied (every host applied the revision), noDrift (no open drift), ready (the gateway reports, no stale host).'),
  waves: z.array(Wave).min(1).describe('In order: a revision reaches a wave only after every site of the wave before it was healthy for soakTime.'),
  windows: z.array(ChangeWindow).optional().describe('Change windows per area; a commit with the trailer "Mirrornet-Emergency: <reason>" skips them.'),
});

export type RolloutPolicy = z.infer<typeof RolloutPolicy>;
export type RolloutWave = z.infer<typeof Wave>;
export type ChangeWindow = z.infer<typeof ChangeWindow>;
