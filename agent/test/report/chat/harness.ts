// Shared pieces of the chat tests: an injected clock whose sleep advances it, captured logs, events
// shaped like the Agent's, and policies parsed by the real schema (defaults included).
import type { Logger } from 'pino';
import { createLogger } from '../../../src/log.js';
import { Notifications } from '../../../src/model/schema.js';
import type { AgentEvent, EventKind } from '../../../src/reconcile/events.js';

export const START = Date.parse('2025-03-01T02:00:00.000Z');
const REV = '3f9c2a7be81d4c6a9e05b7d2c1f0a8e4d6b3c9f1';
export const HOUR = 3_600_000;
export const MINUTE = 60_000;

export interface FakeTime {
  clock: () => number;
  advance(ms: number): void;
  /** Records the wait and advances the clock by it (no real waiting). */
  sleep: (ms: number) => Promise<void>;
  sleeps: number[];
}

export function fakeTime(start = START): FakeTime {
  let now = start;
  const sleeps: number[] = [];
  return {
    clock: () => now,
    advance: (ms) => {
      now += ms;
    },
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    sleeps,
  };
}

export interface Captured {
  log: Logger;
  lines: string[];
  text(): string;
  /** Parsed log records whose msg contains `msg`. */
  records(msg: string): Record<string, unknown>[];
}

export function captureLog(): Captured {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  return {
    log,
    lines,
    text: () => lines.join(''),
    records: (msg) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => String(r['msg']).includes(msg)),
  };
}

const MESSAGES: Record<EventKind, (site: string) => string> = {
  'apply-started': (s) => `${s} is applying ${REV.slice(0, 12)}: 2 change(s).`,
  applied: (s) => `${s} applied ${REV.slice(0, 12)}: 2 change(s).`,
  'apply-failed': (s) => `${s} failed to apply ${REV.slice(0, 12)} (routes): RTNETLINK answers: Network is unreachable`,
  'revision-refused': (s) => `${s} refused ${REV.slice(0, 12)}: the commit is not signed by a trusted key. It keeps 0a1b2c3d4e5f applied.`,
  'guardrail-blocked': (s) => `${s} did not apply ${REV.slice(0, 12)}: 12 deletions exceed maxDeletionsPerApply 5.`,
  'drift-detected': (s) => `${s}: routes drifted from ${REV.slice(0, 12)}: 10.136.0.0/16 (missing).`,
  'drift-resolved': (s) => `${s}: routes matches ${REV.slice(0, 12)} again.`,
  'agent-stalled': (s) => `${s} is stalled: hook dragonfly-restart running for 93 s; no reconcile has completed for 130 s (interval 30 s).`,
  'agent-recovered': (s) => `${s} makes progress again after 140 s stalled at hook dragonfly-restart.`,
  'drift-healed': () => 'routes drifted on n3, n7 and was healed',
  'site-silent': (s) => `${s} has not reported for 95 s (interval 30 s): its gateway cn-shanghai-gw1 is silent.`,
  'site-back': (s) => `${s} reports again after 4 min silent.`,
  'site-suspended': (s) => `${s} suspended by alice@example.com: network maintenance until 18:00.`,
  'site-resumed': (s) => `${s} resumed by alice@example.com.`,
  'rollout-advanced': () => `${REV.slice(0, 12)} goes to china (wave 2 after canary soaked 10m): cn-guangzhou, cn-shanghai.`,
  'rollout-halted': () => `The rollout of ${REV.slice(0, 12)} is halted in canary: cn-hangzhou-idc failed to apply ${REV.slice(0, 12)} on gw1.`,
  'rollout-complete': () => `${REV.slice(0, 12)} reached every wave (canary, china, overseas).`,
  'rollout-superseded': () =>
    `The rollout of ${REV.slice(0, 12)} is superseded: the channel holds 89abcdef0123 now (a rollback or a publish by hand): ` +
    `no tag of ${REV.slice(0, 12)} moves any more.`,
  'site-retired': (s) => `${s} retired at ${REV.slice(0, 12)}: this agent removed everything it had created and stops; its file may now be deleted.`,
};

/** An event as the Agent emits it. */
export function event(kind: EventKind, over: Partial<AgentEvent> = {}): AgentEvent {
  const site = over.site ?? 'cn-shanghai';
  const drift = kind === 'drift-detected' || kind === 'drift-resolved' || kind === 'drift-healed';
  return {
    kind,
    site,
    revision: REV,
    message: MESSAGES[kind](site),
    ...(drift || kind === 'apply-failed' ? { component: 'routes' } : {}),
    ...(kind === 'drift-detected' || kind === 'applied' || kind === 'apply-started'
      ? { changes: [{ provider: 'routes', id: '10.136.0.0/16', action: 'create', reason: 'missing' }] }
      : {}),
    fingerprint: `${kind}-${site}-0001`,
    at: new Date(START).toISOString(),
    ...over,
  };
}

const AREAS: Record<string, string> = {
  'cn-shanghai': 'cn',
  'cn-beijing': 'cn',
  'cn-hangzhou-idc': 'cn',
  'ap-jakarta': 'overseas',
  'ap-singapore': 'overseas',
  'us-virginia': 'overseas',
};

export const siteArea = (site: string): string | undefined => AREAS[site];

/** A Notifications policy through the real schema (defaults: reminder 24h, dedupWindow 5m). */
export function policy(spec: { channels: unknown[]; routes: unknown[]; [key: string]: unknown }): Notifications {
  return Notifications.parse({ kind: 'Notifications', name: 'notifications', ...spec });
}
