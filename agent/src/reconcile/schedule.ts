// The agent's interval as a wall-clock schedule (the six-field cron expression it repeats) that never
// overlaps itself. Ticks are computed from local time by plain arithmetic on one timer: node-cron's scheduler
// formats the time with Intl every second, which maps ICU's data into every agent for good (~8 MB of
// resident memory, issue 15); node-cron stays the parser of the chat's mute windows (model/cron.ts).
import { MirrornetError } from '../errors.js';
import { goDurationNs } from '../model/go-duration.js';

const NS_PER_SECOND = 1_000_000_000n;
const SECONDS_PER_DAY = 86_400;

export class IntervalError extends MirrornetError {
  constructor(text: string) {
    super(`--interval ${text} is not supported: use seconds or minutes that divide 60 (e.g. 10s, 30s, 1m, 5m, 15m) or hours that divide 24 (1h, 2h, 24h).`, {
      message: `bad interval ${text}`,
    });
  }
}

/** The interval's length in seconds: a model duration (model/go-duration.ts) of whole seconds, at most a day. */
function intervalSeconds(text: string): number {
  const ns = goDurationNs(text.trim());
  if (ns === undefined || ns <= 0n || ns % NS_PER_SECOND !== 0n || ns / NS_PER_SECOND > SECONDS_PER_DAY) throw new IntervalError(text);
  return Number(ns / NS_PER_SECOND);
}

/**
 * By the interval's length, whatever its unit: 30s -> "*\/30 * * * * *", 5m and 300s -> "0 *\/5 * * * *",
 * 1h and 60m -> "0 0 *\/1 * * *", 1d -> "0 0 *\/24 * * *".
 */
export function intervalToCron(text: string): string {
  const s = intervalSeconds(text);
  if (s < 60 && 60 % s === 0) return `*/${s} * * * * *`;
  if (s < 3600 && s % 60 === 0 && 60 % (s / 60) === 0) return `0 */${s / 60} * * * *`;
  if (s % 3600 === 0 && 24 % (s / 3600) === 0) return `0 0 */${s / 3600} * * *`;
  throw new IntervalError(text);
}

/** The length of an interval such as 10s, 5m or 1h in milliseconds (one that intervalToCron accepts). */
export function intervalMs(interval: string): number {
  intervalToCron(interval);
  return intervalSeconds(interval) * 1000;
}

/**
 * Pure: the first time after `after` (ms since the epoch) at which the wall clock shows a multiple of the
 * interval — what the cron expression of intervalToCron fires on: seconds of the minute for 10s, minutes of
 * the hour for 5m, hours of the local day for 2h. `offsetMinutes(t)` is Date#getTimezoneOffset at t.
 */
export function nextTickAt(after: number, intervalMs: number, offsetMinutes: (t: number) => number): number {
  // Local time as if it were UTC; the interval divides a minute, an hour or a day, so slots align there.
  const slot = (t: number) => Math.floor((t - offsetMinutes(t) * 60_000) / intervalMs) * intervalMs;
  let local = slot(after) + intervalMs;
  // Back to real time with the offset of that moment; across a change of the offset, the next slot after it.
  for (let i = 0; i < 3; i++) {
    const at = local + offsetMinutes(local) * 60_000;
    if (at > after) return at;
    local += intervalMs;
  }
  return after + intervalMs;
}

const localOffset = (t: number) => new Date(t).getTimezoneOffset();

/**
 * After the timer for slot `at` fired at `now`: the instant the next slot is counted from. A timer may fire a
 * little early: the slot it was set for is done either way. When the wall clock was stepped back while it
 * waited (NTP at boot), the next slot counts from the clock as it is now, or the agent would wait out the step
 * on top of its interval.
 */
export function rearmFrom(at: number, now: number): number {
  return now < at - 1000 ? now : Math.max(at, now);
}

/**
 * Tick on the interval, each tick delayed by a random part of it (at most a tenth, at most 3 s): every agent's
 * schedule is tied to the wall clock, and a fleet of agents must not validate the same revision at once. A
 * tick that is still running when the next one is due makes that one skip (no overlap).
 */
export function scheduleTicks(interval: string, tick: () => Promise<unknown>, random: () => number = Math.random): { stop(): void } {
  const ms = intervalMs(interval);
  const jitterMax = Math.min(ms / 10, 3000);
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let stopped = false;
  const arm = (after: number) => {
    if (stopped) return;
    const at = nextTickAt(after, ms, localOffset);
    timer = setTimeout(() => fire(at), Math.max(0, at - Date.now()));
  };
  const fire = (at: number) => {
    arm(rearmFrom(at, Date.now()));
    if (running) return;
    running = true;
    void (async () => {
      await new Promise((r) => setTimeout(r, Math.floor(random() * jitterMax)));
      if (!stopped) await tick();
    })()
      .catch(() => undefined)
      .finally(() => (running = false));
  };
  arm(Date.now());
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
