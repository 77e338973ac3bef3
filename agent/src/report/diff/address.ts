// The address plan as a table: per area, its stride blocks in address order, each used by a site (its
// prefix and the growth room after it), reserved, or free, with runs of blocks of the same use collapsed;
// each run compared with the base. A sweep over the blocks' boundaries, never one row per block: an area
// of half a million /28 blocks costs what its sites and reservations cost.
import { isDeepStrictEqual } from 'node:util';
import type { Fleet } from '../../model/fleet.js';
import type { Area } from '../../model/schema.js';
import { contains, formatCidr, formatIpv4, overlaps, parseCidr } from '../../net/cidr.js';
import { planGeometry, type AreaPlan, type PlanGeometry } from '../../net/plan.js';
import type { AddressArea, AddressRow, BlockStatus } from './model.js';

interface Occupant {
  /** Block indices, inclusive. */
  from: number;
  to: number;
  label: string;
  kind: 'site' | 'reserved';
}

interface AreaOccupancy {
  occupants: Occupant[];
  outside: string[];
}

function occupancy(fleet: Fleet, geo: PlanGeometry, ap: AreaPlan): AreaOccupancy {
  const occupants: Occupant[] = [];
  const outside: string[] = [];
  const bs = geo.blockSize;
  const base = ap.supernet.start;
  const blocks = Math.floor((ap.supernet.end - base + 1) / bs);
  const span = (start: number, end: number) => ({
    from: Math.max(0, Math.floor((Math.max(start, base) - base) / bs)),
    to: Math.min(blocks - 1, Math.floor((Math.min(end, ap.supernet.end) - base) / bs)),
  });
  for (const site of [...fleet.sites.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = parseCidr(site.value.cidr);
    if (!p.ok) continue;
    const inside = contains(ap.supernet, p.range);
    if (site.value.area === ap.area && !inside) outside.push(`${site.name} ${p.cidr}`);
    if (!overlaps(ap.supernet, p.range)) continue;
    occupants.push({
      ...span(p.range.start, p.range.end),
      label: `${site.name} ${p.cidr}${site.value.area !== ap.area ? ` (a ${site.value.area} site)` : ''}`,
      kind: 'site',
    });
  }
  for (const r of geo.reserved) {
    if (!overlaps(ap.supernet, r.range)) continue;
    occupants.push({ ...span(r.range.start, r.range.end), label: `reserved ${formatCidr(r.range)} (${r.reason})`, kind: 'reserved' });
  }
  return { occupants, outside };
}

interface Segment {
  from: number;
  to: number;
  status: BlockStatus;
  owners: string[];
}

/** Split [0, blocks) at every occupant boundary; each piece with the occupants that cover it. */
function segments(occ: Occupant[], blocks: number, cuts: Set<number>): Segment[] {
  const points = new Set<number>([0, blocks, ...cuts]);
  for (const o of occ) {
    points.add(o.from);
    points.add(o.to + 1);
  }
  const sorted = [...points].filter((p) => p >= 0 && p <= blocks).sort((a, b) => a - b);
  const byStart = [...occ].sort((a, b) => a.from - b.from);
  const out: Segment[] = [];
  let active: Occupant[] = [];
  let next = 0;
  for (let i = 0; i + 1 < sorted.length; i++) {
    const from = sorted[i]!;
    const to = sorted[i + 1]! - 1;
    while (next < byStart.length && byStart[next]!.from <= from) active.push(byStart[next++]!);
    active = active.filter((o) => o.to >= from);
    const sites = active.filter((o) => o.kind === 'site');
    const reserved = active.filter((o) => o.kind === 'reserved');
    const status: BlockStatus =
      sites.length > 1 || (sites.length && reserved.length) ? 'conflict' : sites.length ? 'used' : reserved.length ? 'reserved' : 'free';
    out.push({ from, to, status, owners: active.map((o) => o.label) });
  }
  return out;
}

/** The table of every area of the head's plan, compared with the base's occupancy. */
export function addressPlanTable(base: Fleet, head: Fleet): AddressArea[] {
  const policy = head.policies.addressPlan?.value;
  const geo = policy && planGeometry(policy);
  if (!policy || !geo) return [];
  const baseGeo = base.policies.addressPlan ? planGeometry(base.policies.addressPlan.value) : undefined;
  const out: AddressArea[] = [];
  const bs = geo.blockSize;
  const log2 = Math.log2(bs);
  const blockPrefix = Number.isInteger(log2) ? 32 - log2 : undefined;
  for (const ap of geo.areas) {
    const blocks = Math.floor((ap.supernet.end - ap.supernet.start + 1) / bs);
    const h = occupancy(head, geo, ap);
    // The base's sites and reservations, laid on the head's blocks (the plan itself rarely changes).
    const bOcc = occupancy(base, { ...(baseGeo ?? geo), blockSize: bs }, ap).occupants;
    const cuts = new Set<number>();
    for (const o of [...h.occupants, ...bOcc]) {
      cuts.add(o.from);
      cuts.add(o.to + 1);
    }
    const hs = segments(h.occupants, blocks, cuts);
    const bsegs = segments(bOcc, blocks, cuts);
    const baseAt = new Map(bsegs.map((s) => [s.from, s]));
    const rows: (AddressRow & { from: number; to: number })[] = [];
    for (const s of hs) {
      const was = baseAt.get(s.from);
      const wasOwners = was?.owners ?? [];
      let change: AddressRow['change'];
      if (!isDeepStrictEqual(wasOwners, s.owners)) change = !wasOwners.length ? 'added' : !s.owners.length ? 'removed' : 'changed';
      const prev = rows[rows.length - 1];
      if (
        prev &&
        prev.status === s.status &&
        isDeepStrictEqual(prev.owners, s.owners) &&
        prev.change === change &&
        isDeepStrictEqual(prev.before ?? [], change ? wasOwners : [])
      ) {
        prev.to = s.to;
        continue;
      }
      rows.push({
        from: s.from,
        to: s.to,
        first: '',
        last: '',
        blocks: 0,
        status: s.status,
        owners: s.owners,
        ...(change ? { change, before: wasOwners } : {}),
      });
    }
    const counts = { used: 0, reserved: 0, free: 0, conflict: 0 };
    const finished: AddressRow[] = rows.map(({ from, to, ...r }) => {
      const start = ap.supernet.start + from * bs;
      const end = ap.supernet.start + (to + 1) * bs - 1;
      const n = to - from + 1;
      counts[r.status] += n;
      return {
        ...r,
        first: formatIpv4(start),
        last: formatIpv4(end),
        blocks: n,
        ...(n === 1 && blockPrefix !== undefined ? { cidr: formatCidr({ start, prefix: blockPrefix }) } : {}),
      };
    });
    out.push({
      area: ap.area as Area,
      supernet: formatCidr(ap.supernet),
      allocation: ap.allocation,
      blockSize: bs,
      ...(blockPrefix !== undefined ? { blockPrefix } : {}),
      sitePrefix: geo.prefix,
      stride: policy.stride,
      counts,
      rows: finished,
      outside: h.outside,
    });
  }
  return out;
}

/** The AddressPlan policy itself differs between the two fleets. */
export function addressPolicyChanged(base: Fleet, head: Fleet): boolean {
  return !isDeepStrictEqual(base.policies.addressPlan?.value ?? null, head.policies.addressPlan?.value ?? null);
}
