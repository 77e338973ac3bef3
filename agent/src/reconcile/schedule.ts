// The agent's interval as a node-cron schedule that never overlaps itself.
import { MirrornetError } from '../errors.js';
import { goDurationNs } from '../model/go-duration.js';
import { schedule, type ScheduledTask } from 'node-cron';

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
 * Tick on the interval, each tick delayed by a random part of it (at most a tenth, at most 3 s): every agent's
 * schedule is tied to the wall clock, and a fleet of agents must not validate the same revision at once.
 */
export function scheduleTicks(interval: string, tick: () => Promise<unknown>, random: () => number = Math.random): ScheduledTask {
  const ms = intervalMs(interval);
  const jitterMax = Math.min(ms / 10, 3000);
  return schedule(
    intervalToCron(interval),
    async () => {
      await new Promise((r) => setTimeout(r, Math.floor(random() * jitterMax)));
      await tick();
    },
    { noOverlap: true, name: 'mirrornet-reconcile' },
  );
}
