// What Dragonfly's Rust client makes of a duration string: dfdaemon.yaml's durations go through
// humantime_serde, which hands the string to humantime::parse_duration (humantime 2.4.0, src/duration.rs) and
// refuses the whole file when it fails. This is that parser, step for step, with its error sentences, so the
// validation rules and the lab's stand-in for dfdaemon agree with dfdaemon on every string, to the nanosecond.
import { MirrornetError } from '../../errors.js';

/** A parsed duration (seconds and nanoseconds, as Rust's Duration holds it), or humantime's reason for refusing it. */
export type HumantimeResult = { ok: true; seconds: bigint; nanos: bigint } | { ok: false; reason: string };

const U64_MAX = (1n << 64n) - 1n;
const NS = 1_000_000_000n;

type Unit = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h' | 'd' | 'w' | 'M' | 'y';

/** humantime's unit names (case matters: `M` is a month, `m` a minute). */
const UNITS: Record<string, Unit> = {
  ...Object.fromEntries(['nanos', 'nsec', 'ns'].map((u) => [u, 'ns'])),
  ...Object.fromEntries(['usec', 'us', 'µs'].map((u) => [u, 'us'])),
  ...Object.fromEntries(['millis', 'msec', 'ms'].map((u) => [u, 'ms'])),
  ...Object.fromEntries(['seconds', 'second', 'secs', 'sec', 's'].map((u) => [u, 's'])),
  ...Object.fromEntries(['minutes', 'minute', 'min', 'mins', 'm'].map((u) => [u, 'm'])),
  ...Object.fromEntries(['hours', 'hour', 'hr', 'hrs', 'h'].map((u) => [u, 'h'])),
  ...Object.fromEntries(['days', 'day', 'd'].map((u) => [u, 'd'])),
  ...Object.fromEntries(['weeks', 'week', 'wk', 'wks', 'w'].map((u) => [u, 'w'])),
  ...Object.fromEntries(['months', 'month', 'M'].map((u) => [u, 'M'])),
  ...Object.fromEntries(['years', 'year', 'yr', 'yrs', 'y'].map((u) => [u, 'y'])),
};

/** Seconds per unit from seconds up; nanoseconds per unit below (humantime: a month is 30.44 days, a year 365.25). */
const SECONDS: Partial<Record<Unit, bigint>> = { s: 1n, m: 60n, h: 3600n, d: 86400n, w: 604800n, M: 2_630_016n, y: 31_557_600n };
const NANOS: Partial<Record<Unit, bigint>> = { ns: 1n, us: 1000n, ms: 1_000_000n };
/** What humantime multiplies a fraction's numerator by before dividing it by the denominator, and into which field. */
const FRACTION: Record<Unit, { factor: bigint; into: 'nanos' | 'seconds' } | undefined> = {
  ns: undefined,
  us: { factor: 1000n, into: 'nanos' },
  ms: { factor: 1_000_000n, into: 'nanos' },
  s: { factor: 1_000_000_000n, into: 'nanos' },
  m: { factor: 60_000_000_000n, into: 'nanos' },
  h: { factor: 3600n, into: 'seconds' },
  d: { factor: 86400n, into: 'seconds' },
  w: { factor: 604800n, into: 'seconds' },
  M: { factor: 2_630_016n, into: 'seconds' },
  y: { factor: 31_557_600n, into: 'seconds' },
};

const OVERFLOW = 'number is too large or cannot be represented without a lack of precision (values below 1ns are not supported)';

/**
 * humantime's refusal, with its sentence (shown as a finding's reason). The `?` of the Rust original: thrown
 * deep in the parser, caught at its end and returned as the result's `reason`; it never leaves parseHumantime.
 */
class Refused extends MirrornetError {}

function checked(n: bigint): bigint {
  if (n > U64_MAX) throw new Refused(OVERFLOW);
  return n;
}

const isDigit = (c: string) => c >= '0' && c <= '9';
const isLetter = (c: string) => /^[a-zA-Z]$/.test(c) || c === 'µ';
const isSpace = (c: string) => /^\p{White_Space}$/u.test(c);

/** humantime::parse_duration: `15m`, `1h 30m`, `2h37min`, `1.5s`, `0`. Offsets in messages are UTF-8 byte offsets, like Rust's. */
export function parseHumantime(text: string): HumantimeResult {
  if (text === '0') return { ok: true, seconds: 0n, nanos: 0n };
  const chars = [...text];
  const offsets: number[] = [0];
  for (const c of chars) offsets.push(offsets[offsets.length - 1]! + Buffer.byteLength(c));
  let i = 0;
  const off = () => offsets[i]!;
  let seconds = 0n;
  let nanos = 0n;

  const addCurrent = (sec: bigint, nsec: bigint) => {
    let ns = checked(nanos + nsec);
    let s = sec;
    if (ns > NS) {
      s = checked(s + ns / NS);
      ns %= NS;
    }
    s = checked(seconds + s);
    // Duration::new carries a full second of nanoseconds.
    seconds = checked(s + ns / NS);
    nanos = ns % NS;
  };

  const firstDigit = (): bigint | undefined => {
    const at = off();
    while (i < chars.length) {
      const c = chars[i++]!;
      if (isDigit(c)) return BigInt(c);
      if (!isSpace(c)) throw new Refused(`expected number at ${at}`);
    }
    return undefined;
  };

  const unit = (n: bigint, frac: { num: bigint; den: bigint } | undefined, start: number, end: number) => {
    const name = Buffer.from(text).subarray(start, end).toString();
    const u = UNITS[name];
    if (!u) {
      throw new Refused(
        name === ''
          ? `time unit needed, for example ${n}sec or ${n}ms`
          : `unknown time unit ${JSON.stringify(name)}, supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)`,
      );
    }
    addCurrent(SECONDS[u] === undefined ? 0n : checked(n * SECONDS[u]), NANOS[u] === undefined ? 0n : checked(n * NANOS[u]));
    if (frac) {
      const f = FRACTION[u];
      if (!f) throw new Refused(OVERFLOW);
      const scaled = checked(frac.num * f.factor);
      if (scaled % frac.den !== 0n) throw new Refused(OVERFLOW);
      if (f.into === 'nanos') addCurrent(0n, scaled / frac.den);
      else addCurrent(scaled / frac.den, 0n);
    }
  };

  const fraction = (at: { off: number }): { num: bigint; den: bigint } => {
    let num = 0n;
    let den = 1n;
    let zeros = true;
    while (i < chars.length) {
      const c = chars[i]!;
      if (c === '0') {
        den = checked(den * 10n);
        if (!zeros) num = checked(num * 10n);
      } else if (isDigit(c)) {
        zeros = false;
        den = checked(den * 10n);
        num = checked(num * 10n + BigInt(c));
      } else if (isSpace(c)) {
        /* skipped */
      } else if (isLetter(c)) {
        i++;
        break;
      } else throw new Refused(`invalid character at ${at.off}`);
      i++;
      at.off = off();
    }
    if (den === 1n) throw new Refused(`invalid character at ${at.off}`);
    return { num, den };
  };

  try {
    let n = firstDigit();
    if (n === undefined) throw new Refused('value was empty');
    for (;;) {
      let frac: { num: bigint; den: bigint } | undefined;
      const at = { off: off() };
      while (i < chars.length) {
        const c = chars[i++]!;
        if (isDigit(c)) n = checked(n * 10n + BigInt(c));
        else if (isSpace(c)) {
          /* skipped */
        } else if (isLetter(c)) break;
        else if (c === '.') {
          frac = fraction(at);
          break;
        } else throw new Refused(`invalid character at ${at.off}`);
        at.off = off();
      }
      const start = at.off;
      let end = off();
      let next: bigint | undefined;
      while (i < chars.length) {
        const c = chars[i++]!;
        if (isDigit(c)) {
          next = BigInt(c);
          break;
        }
        if (isSpace(c)) break;
        if (!isLetter(c)) throw new Refused(`invalid character at ${end}`);
        end = off();
      }
      unit(n, frac, start, end);
      if (next !== undefined) {
        n = next;
        continue;
      }
      const more = firstDigit();
      if (more === undefined) return { ok: true, seconds, nanos };
      n = more;
    }
  } catch (err) {
    if (err instanceof Refused) return { ok: false, reason: err.userMessage };
    throw err;
  }
}
