// IPv4 CIDR parsing and interval arithmetic. Ranges are plain numbers (0 .. 2^32-1) so that sorting and
// sweeping thousands of them stays cheap. Well-formed input is parsed here directly; ip-num checks and
// explains anything else, and is loaded only then (it costs the long-running agent ~15 MB of memory).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
type IpNum = typeof import('ip-num');
let ipNum: IpNum | undefined;
function ipnum(): IpNum {
  return (ipNum ??= require('ip-num') as IpNum);
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** A canonical dotted quad (no leading zeros, octets <= 255) as a number, else undefined. */
function quickIpv4(text: string): number | undefined {
  const m = DOTTED.exec(text);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const v = Number(part);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export interface Ipv4Range {
  /** First address as an unsigned 32-bit number. */
  start: number;
  /** Last address, inclusive. */
  end: number;
  prefix: number;
}

export type CidrParse =
  | { ok: true; range: Ipv4Range; cidr: string }
  | { ok: false; reason: 'syntax'; message: string }
  | { ok: false; reason: 'not-aligned'; message: string; suggestion: string; range: Ipv4Range };

const cache = new Map<string, CidrParse>();

export function parseCidr(text: string): CidrParse {
  const hit = cache.get(text);
  if (hit) return hit;
  const result = parseCidrUncached(text);
  if (cache.size > 100_000) cache.clear();
  cache.set(text, result);
  return result;
}

function parseCidrUncached(text: string): CidrParse {
  const slash = text.indexOf('/');
  const prefixText = slash > 0 ? text.slice(slash + 1) : '';
  const quick = slash > 0 ? quickIpv4(text.slice(0, slash)) : undefined;
  if (quick !== undefined && /^\d{1,2}$/.test(prefixText) && Number(prefixText) <= 32) {
    const prefix = Number(prefixText);
    const size = 2 ** (32 - prefix);
    const start = quick - (quick % size);
    const range = { start, end: start + size - 1, prefix };
    const canonical = `${formatIpv4(start)}/${prefix}`;
    if (quick !== start) return { ok: false, reason: 'not-aligned', message: `${text} is not the network address of its block`, suggestion: canonical, range };
    return { ok: true, range, cidr: canonical };
  }
  const { IPv4, IPv4CidrRange, Validator } = ipnum();
  const [valid, messages] = Validator.isValidIPv4CidrNotation(text);
  if (!valid) return { ok: false, reason: 'syntax', message: messages.join('; ') || 'not an IPv4 CIDR' };
  let range: InstanceType<IpNum['IPv4CidrRange']>;
  try {
    range = IPv4CidrRange.fromCidr(text);
  } catch (cause) {
    return { ok: false, reason: 'syntax', message: (cause as Error).message };
  }
  const prefix = Number(range.cidrPrefix.getValue());
  const start = Number(range.getFirst().getValue());
  const end = Number(range.getLast().getValue());
  const given = Number(new IPv4(text.split('/')[0]!).getValue());
  const canonical = `${formatIpv4(start)}/${prefix}`;
  if (given !== start) {
    return {
      ok: false,
      reason: 'not-aligned',
      message: `${text} is not the network address of its block`,
      suggestion: canonical,
      range: { start, end, prefix },
    };
  }
  return { ok: true, range: { start, end, prefix }, cidr: canonical };
}

export function parseIpv4(text: string): number | undefined {
  const quick = quickIpv4(text);
  if (quick !== undefined) return quick;
  const { IPv4, Validator } = ipnum();
  if (!Validator.isValidIPv4String(text)[0]) return undefined;
  return Number(new IPv4(text).getValue());
}

export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function formatCidr(range: Pick<Ipv4Range, 'start' | 'prefix'>): string {
  return `${formatIpv4(range.start)}/${range.prefix}`;
}

export function rangeOf(start: number, prefix: number): Ipv4Range {
  return { start, end: start + 2 ** (32 - prefix) - 1, prefix };
}

export function contains(outer: { start: number; end: number }, inner: { start: number; end: number }): boolean {
  return outer.start <= inner.start && inner.end <= outer.end;
}

export function containsAddress(range: { start: number; end: number }, address: number): boolean {
  return range.start <= address && address <= range.end;
}

export function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start <= b.end && b.start <= a.end;
}

export interface Interval<T> {
  start: number;
  end: number;
  tag: T;
}

/**
 * Every pair of overlapping intervals, by one sort and a sweep: O(n log n + k) for k overlapping pairs.
 * Each pair comes once, the interval that starts first (then the longer one) first.
 */
export function findOverlaps<T>(intervals: readonly Interval<T>[]): [Interval<T>, Interval<T>][] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start || b.end - a.end);
  const pairs: [Interval<T>, Interval<T>][] = [];
  const active: Interval<T>[] = [];
  for (const current of sorted) {
    if (active.length > 0) {
      let keep = 0;
      for (const other of active) if (other.end >= current.start) active[keep++] = other;
      active.length = keep;
      for (const other of active) pairs.push([other, current]);
    }
    active.push(current);
  }
  return pairs;
}
