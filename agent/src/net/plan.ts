// The address plan: which block a site may use, the growth reservation it keeps, the next free block.
import type { AddressPlan, Area } from '../model/schema.js';
import { parseCidr, rangeOf, type Ipv4Range } from './cidr.js';

export interface AreaPlan {
  area: Area;
  supernet: Ipv4Range;
  allocation: 'ascending' | 'descending';
}

export interface PlanGeometry {
  areas: AreaPlan[];
  prefix: number;
  /** Addresses in one stride block (the site's prefix plus its growth reservation). */
  blockSize: number;
  reserved: { range: Ipv4Range; reason: string; index: number }[];
}

/** The plan with parsed ranges; undefined when the plan itself has bad CIDRs (its own findings say so). */
export function planGeometry(plan: AddressPlan): PlanGeometry | undefined {
  const areas: AreaPlan[] = [];
  for (const area of ['cn', 'overseas'] as const) {
    const parsed = parseCidr(plan.areas[area].supernet);
    if (!parsed.ok) return undefined;
    areas.push({ area, supernet: parsed.range, allocation: plan.areas[area].allocation });
  }
  const reserved: PlanGeometry['reserved'] = [];
  plan.reserved.forEach((r, index) => {
    const parsed = parseCidr(r.cidr);
    if (parsed.ok) reserved.push({ range: parsed.range, reason: r.reason, index });
  });
  return { areas, prefix: plan.regionPrefixLength, blockSize: plan.stride * 2 ** (32 - plan.regionPrefixLength), reserved };
}

export function areaPlan(geo: PlanGeometry, area: Area): AreaPlan {
  return geo.areas.find((a) => a.area === area)!;
}

export function onStride(geo: PlanGeometry, area: AreaPlan, range: Ipv4Range): boolean {
  return (range.start - area.supernet.start) % geo.blockSize === 0;
}

/** The addresses after a site's own prefix up to the end of its stride block, if any. */
export function growthReservation(geo: PlanGeometry, area: AreaPlan, range: Ipv4Range): { start: number; end: number } | undefined {
  if (range.prefix !== geo.prefix || !onStride(geo, area, range)) return undefined;
  const blockEnd = range.start + geo.blockSize - 1;
  if (blockEnd <= range.end) return undefined;
  return { start: range.end + 1, end: Math.min(blockEnd, area.supernet.end) };
}

/** The first block of the area, in its allocation order, that overlaps no used or reserved range. */
export function nextFreeBlock(geo: PlanGeometry, area: Area, used: readonly { start: number; end: number }[]): Ipv4Range | undefined {
  const ap = areaPlan(geo, area);
  const blocks = Math.floor((ap.supernet.end - ap.supernet.start + 1) / geo.blockSize);
  const taken = [...used, ...geo.reserved.map((r) => r.range)].sort((a, b) => a.start - b.start);
  // maxEnd[i] = the largest end among taken[0..i]: a block overlaps something iff, among the ranges that
  // start before the block ends, one ends after the block starts.
  const maxEnd: number[] = [];
  taken.forEach((t, i) => maxEnd.push(Math.max(t.end, i > 0 ? maxEnd[i - 1]! : -1)));
  const isFree = (start: number, end: number): boolean => {
    let lo = 0;
    let hi = taken.length - 1;
    let idx = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (taken[mid]!.start <= end) {
        idx = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return idx < 0 || maxEnd[idx]! < start;
  };
  for (let k = 0; k < blocks; k++) {
    const i = ap.allocation === 'descending' ? blocks - 1 - k : k;
    const start = ap.supernet.start + i * geo.blockSize;
    if (isFree(start, start + geo.blockSize - 1)) return rangeOf(start, geo.prefix);
  }
  return undefined;
}
