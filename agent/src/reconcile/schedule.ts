// The agent's interval as a node-cron schedule that never overlaps itself.
import { MirrornetError } from '../errors.js';
import { schedule, type ScheduledTask } from 'node-cron';

export class IntervalError extends MirrornetError {
  constructor(text: string) {
    super(`--interval ${text} is not supported: use seconds or minutes that divide 60 (e.g. 10s, 30s, 1m, 5m, 15m) or whole hours (1h, 2h).`, {
      message: `bad interval ${text}`,
    });
  }
}

/** 30s -> "*\/30 * * * * *", 5m -> "0 *\/5 * * * *", 1h -> "0 0 *\/1 * * *". */
export function intervalToCron(text: string): string {
  const m = /^(\d+)(s|m|h)$/.exec(text.trim());
  if (!m) throw new IntervalError(text);
  const n = Number(m[1]);
  if (n <= 0) throw new IntervalError(text);
  if (m[2] === 's' && 60 % n === 0) return `*/${n} * * * * *`;
  if (m[2] === 'm' && 60 % n === 0) return `0 */${n} * * * *`;
  if (m[2] === 'h' && 24 % n === 0) return `0 0 */${n} * * *`;
  if (m[2] === 's' && n % 60 === 0 && 60 % (n / 60) === 0) return `0 */${n / 60} * * * *`;
  throw new IntervalError(text);
}

/** The length of an interval such as 10s, 5m or 1h in milliseconds (one that intervalToCron accepts). */
export function intervalMs(interval: string): number {
  intervalToCron(interval);
  const m = /^(\d+)(s|m|h)$/.exec(interval.trim())!;
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
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
