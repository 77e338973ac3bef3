// The cron schedules of notification mute windows, read once for the validator and the chat dispatcher:
// is an instant inside a window that opens at each fire time of a five-field expression in a time zone?
// node-cron (already the agent's scheduler) parses the expression but only schedules; it does not say
// when an expression last fired. That walk back is here, on the time zone's wall clock from Intl (no
// time-zone library). Pure: the instant is always given.
import { parse, validateDetailed } from 'node-cron';

/** The values of each field a time must have (day of week 0-6, Sunday 0). Day of month and day of week must both match. */
export interface CronSchedule {
  minute: ReadonlySet<number>;
  hour: ReadonlySet<number>;
  dayOfMonth: ReadonlySet<number>;
  month: ReadonlySet<number>;
  dayOfWeek: ReadonlySet<number>;
}

const MINUTE_MS = 60_000;

/** Why `expr` is not a schedule a mute window can use, or undefined when it is one. */
export function cronProblem(expr: string): string | undefined {
  const text = expr.trim();
  if (!text.startsWith('@') && text.split(/\s+/).length !== 5)
    return 'needs five fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * 6" for Saturdays at 02:00';
  const detailed = validateDetailed(text);
  if (!detailed.valid) return detailed.errors.map((e) => e.message).join('; ') || 'is not a cron expression';
  let fields;
  try {
    fields = parse(text);
  } catch (err) {
    return err instanceof Error ? err.message : 'is not a cron expression';
  }
  const special = [...fields.dayOfMonth, ...fields.dayOfWeek].some((v) => typeof v !== 'number');
  if (special) return 'uses L, W or #, which mute windows do not support: list the days instead';
  return undefined;
}

/** The schedule of a valid expression (cronProblem() says why one is not), else undefined. */
export function parseCron(expr: string): CronSchedule | undefined {
  if (cronProblem(expr) !== undefined) return undefined;
  const f = parse(expr.trim());
  const numbers = (values: readonly (number | string)[]) => new Set(values.filter((v): v is number => typeof v === 'number'));
  return { minute: numbers(f.minute), hour: numbers(f.hour), dayOfMonth: numbers(f.dayOfMonth), month: numbers(f.month), dayOfWeek: numbers(f.dayOfWeek) };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Why `timeZone` is not an IANA time zone this host knows, or undefined. */
export function timeZoneProblem(timeZone: string): string | undefined {
  try {
    formatter(timeZone);
    return undefined;
  } catch {
    return 'is not an IANA time zone such as Asia/Shanghai, Europe/Amsterdam or UTC';
  }
}

interface WallClock {
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

function wallClock(t: number, timeZone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(t))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const [year, month, day] = [parts['year']!, parts['month']!, parts['day']!];
  return { month, day, hour: parts['hour']!, minute: parts['minute']!, weekday: new Date(Date.UTC(year, month - 1, day)).getUTCDay() };
}

/**
 * The last time (ms, on a minute) at or before `t` and after `after` when `cron` fired in `timeZone`,
 * or undefined. Walks back an hour at a time through hours that cannot fire, so a week is ~170 steps.
 */
export function lastFire(cron: CronSchedule, timeZone: string, t: number, after: number): number | undefined {
  let x = Math.floor(t / MINUTE_MS) * MINUTE_MS;
  while (x > after) {
    const w = wallClock(x, timeZone);
    if (cron.month.has(w.month) && cron.dayOfMonth.has(w.day) && cron.dayOfWeek.has(w.weekday) && cron.hour.has(w.hour)) {
      let m = w.minute;
      while (m >= 0 && !cron.minute.has(m)) m--;
      if (m >= 0) {
        const fire = x - (w.minute - m) * MINUTE_MS;
        return fire > after ? fire : undefined;
      }
    }
    x -= (w.minute + 1) * MINUTE_MS;
  }
  return undefined;
}

/**
 * The first time (ms, on a minute) at or after `t` and before `before` when `cron` fires in `timeZone`, or
 * undefined: the walk of lastFire forward (when a closed change window opens next).
 */
export function nextFire(cron: CronSchedule, timeZone: string, t: number, before: number): number | undefined {
  let x = Math.ceil(t / MINUTE_MS) * MINUTE_MS;
  while (x < before) {
    const w = wallClock(x, timeZone);
    if (cron.month.has(w.month) && cron.dayOfMonth.has(w.day) && cron.dayOfWeek.has(w.weekday) && cron.hour.has(w.hour)) {
      let m = w.minute;
      while (m < 60 && !cron.minute.has(m)) m++;
      if (m < 60) {
        const fire = x + (m - w.minute) * MINUTE_MS;
        return fire < before ? fire : undefined;
      }
    }
    x += (60 - w.minute) * MINUTE_MS;
  }
  return undefined;
}
