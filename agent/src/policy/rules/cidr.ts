// Address plan: valid, aligned, inside the area, on the stride, no overlap with sites, reservations or
// another site's growth room. One sort and sweep over every range: O(n log n).
import type { Finding } from '../../model/finding.js';
import type { SiteEntry } from '../../model/fleet.js';
import type { Area } from '../../model/schema.js';
import { contains, findOverlaps, formatCidr, overlaps, parseCidr, type Interval, type Ipv4Range } from '../../net/cidr.js';
import { areaPlan, growthReservation, nextFreeBlock, onStride, type PlanGeometry } from '../../net/plan.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const invalid = reporter({ id: 'cidr/invalid', severity: 'error' });
const notAligned = reporter({ id: 'cidr/not-aligned', severity: 'error' });
const area = reporter({ id: 'cidr/area', severity: 'error' });
const prefixLength = reporter({ id: 'cidr/prefix-length', severity: 'error' });
const stride = reporter({ id: 'cidr/stride', severity: 'error' });
const overlap = reporter({ id: 'cidr/overlap', severity: 'error' });
const reserved = reporter({ id: 'cidr/reserved', severity: 'error' });
const growth = reporter({ id: 'cidr/growth-reservation', severity: 'error' });
const plan = reporter({ id: 'cidr/plan', severity: 'error' });

type Tag = { kind: 'site'; site: SiteEntry } | { kind: 'growth'; site: SiteEntry } | { kind: 'reserved'; index: number; reason: string };

/** The ranges a site occupies: its CIDR, and (on the stride) the rest of its stride block. */
export function occupied(geo: PlanGeometry | undefined, site: SiteEntry, range: Ipv4Range): { start: number; end: number }[] {
  const out = [{ start: range.start, end: range.end }];
  if (geo) {
    const ap = geo.areas.find((a) => a.area === site.value.area);
    const g = ap && contains(ap.supernet, range) ? growthReservation(geo, ap, range) : undefined;
    if (g) out.push(g);
  }
  return out;
}

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  const geo = ctx.geometry;
  const planFile = ctx.fleet.policies.addressPlan;

  // The plan's own CIDRs.
  if (planFile) {
    const p = planFile.value;
    for (const a of ['cn', 'overseas'] as const) out.push(...cidrSyntax(planFile.file, ['areas', a, 'supernet'], p.areas[a].supernet));
    p.reserved.forEach((r, i) => out.push(...cidrSyntax(planFile.file, ['reserved', i, 'cidr'], r.cidr)));
    if (geo) {
      const [cn, os] = geo.areas;
      if (cn && os && overlaps(cn.supernet, os.supernet)) {
        out.push(
          plan(
            planFile.file,
            ['areas', 'overseas', 'supernet'],
            "The two areas' supernets overlap: China and overseas need disjoint supernets (e.g. 10.0.0.0/9 and 10.128.0.0/9).",
          ),
        );
      }
      for (const ap of geo.areas) {
        if (ap.supernet.prefix > geo.prefix) {
          out.push(
            plan(planFile.file, ['regionPrefixLength'], `regionPrefixLength /${geo.prefix} is larger than the ${ap.area} supernet ${formatCidr(ap.supernet)}.`),
          );
        } else if ((ap.supernet.end - ap.supernet.start + 1) % geo.blockSize !== 0) {
          out.push(
            plan(
              planFile.file,
              ['stride'],
              `The stride block (${geo.blockSize} addresses) does not divide the ${ap.area} supernet ${formatCidr(ap.supernet)}: use a power of two.`,
            ),
          );
        }
      }
    }
  }
  const guard = ctx.fleet.policies.guardrails;
  guard?.value.protectedDestinations.forEach((d, i) => out.push(...cidrSyntax(guard.file, ['protectedDestinations', i], d)));

  // Sites.
  const intervals: Interval<Tag>[] = [];
  const ranges = new Map<string, Ipv4Range>();
  for (const site of ctx.fleet.sites.values()) {
    const found = cidrSyntax(site.file, ['cidr'], site.value.cidr);
    out.push(...found);
    const parsed = parseCidr(site.value.cidr);
    if (!parsed.ok) continue;
    ranges.set(site.name, parsed.range);
    intervals.push({ start: parsed.range.start, end: parsed.range.end, tag: { kind: 'site', site } });
    site.value.routes.forEach((r, i) => out.push(...cidrSyntax(site.file, ['routes', i, 'destination'], r.destination)));
    if (!geo) continue;
    const ap = areaPlan(geo, site.value.area);
    if (!contains(ap.supernet, parsed.range)) {
      const other = geo.areas.find((a) => a.area !== site.value.area && contains(a.supernet, parsed.range));
      const where = other ? ` it lies in the ${other.area} supernet` : '';
      out.push(
        area(
          site.file,
          ['cidr'],
          `${parsed.cidr} is outside the ${site.value.area} ` +
            `supernet ${formatCidr(ap.supernet)};${where || ' it lies in no area'}: ${suggest(ctx, site.value.area)}`,
        ),
      );
      continue;
    }
    if (parsed.range.prefix !== geo.prefix) {
      out.push(
        prefixLength(site.file, ['cidr'], `Sites use a /${geo.prefix} by the address plan, not a /${parsed.range.prefix}: ${suggest(ctx, site.value.area)}`),
      );
      continue;
    }
    if (!onStride(geo, ap, parsed.range)) {
      out.push(
        stride(
          site.file,
          ['cidr'],
          `${parsed.cidr} is not on the plan's stride (a site every ${geo.blockSize / 2 ** (32 - geo.prefix)} /${geo.prefix} blocks, ` +
            `keeping the rest for growth): ${suggest(ctx, site.value.area)}`,
        ),
      );
      continue;
    }
    const g = growthReservation(geo, ap, parsed.range);
    if (g) intervals.push({ start: g.start, end: g.end, tag: { kind: 'growth', site } });
  }
  if (geo)
    for (const r of geo.reserved) intervals.push({ start: r.range.start, end: r.range.end, tag: { kind: 'reserved', index: r.index, reason: r.reason } });

  for (const [x, y] of findOverlaps(intervals)) {
    const a = x.tag;
    const b = y.tag;
    if (a.kind === 'site' && b.kind === 'site') {
      out.push(
        overlap(
          a.site.file,
          ['cidr'],
          `${a.site.value.cidr} overlaps ${b.site.name} (${b.site.value.cidr}, ${b.site.file.path}): ${suggest(ctx, a.site.value.area)}`,
        ),
      );
      out.push(
        overlap(
          b.site.file,
          ['cidr'],
          `${b.site.value.cidr} overlaps ${a.site.name} (${a.site.value.cidr}, ${a.site.file.path}): ${suggest(ctx, b.site.value.area)}`,
        ),
      );
    } else if ((a.kind === 'site' && b.kind === 'reserved') || (a.kind === 'reserved' && b.kind === 'site')) {
      const [s, r] = a.kind === 'site' ? [a, b as Extract<Tag, { kind: 'reserved' }>] : [b as Extract<Tag, { kind: 'site' }>, a];
      out.push(
        reserved(
          s.site.file,
          ['cidr'],
          `${s.site.value.cidr} overlaps the reserved range ${ctx.fleet.policies.addressPlan?.value.reserved[r.index]?.cidr} ` +
            `(${r.reason}): ${suggest(ctx, s.site.value.area)}`,
        ),
      );
    } else if ((a.kind === 'site' && b.kind === 'growth') || (a.kind === 'growth' && b.kind === 'site')) {
      const [s, g] = a.kind === 'site' ? [a, b as Extract<Tag, { kind: 'growth' }>] : [b as Extract<Tag, { kind: 'site' }>, a];
      if (s.site === g.site) continue;
      out.push(
        growth(
          s.site.file,
          ['cidr'],
          `${s.site.value.cidr} lies in the growth reservation of ${g.site.name} (${g.site.value.cidr} keeps the rest of its stride ` +
            `block): ${suggest(ctx, s.site.value.area)}`,
        ),
      );
    }
  }
  return out;
}

function cidrSyntax(file: SiteEntry['file'], path: (string | number)[], text: string): Finding[] {
  const parsed = parseCidr(text);
  if (parsed.ok) return [];
  if (parsed.reason === 'not-aligned') {
    return [notAligned(file, path, `${text} is not aligned: the network address of that block is ${parsed.suggestion}; write ${parsed.suggestion}.`)];
  }
  return [invalid(file, path, `${text} is not a valid IPv4 CIDR (${parsed.message}).`)];
}

/** "use the next free block 10.160.0.0/16" for an area, computed once per area. */
function suggest(ctx: RuleContext, a: Area): string {
  return ctx.memo(`cidr/next-free/${a}`, () => {
    const geo = ctx.geometry;
    if (!geo) return 'pick a free block of the address plan.';
    const used: { start: number; end: number }[] = [];
    for (const site of ctx.fleet.sites.values()) {
      const p = parseCidr(site.value.cidr);
      if (p.ok) used.push(...occupied(geo, site, p.range));
    }
    const free = nextFreeBlock(geo, a, used);
    return free
      ? `use the next free block ${formatCidr(free)} (\`mirrornet region add\` picks it for you).`
      : `the ${a} area is full: free a block or extend the plan.`;
  });
}

export const cidrRules: RuleFamily = {
  id: 'cidr',
  rules: [
    { id: 'cidr/invalid', severity: 'error', summary: 'CIDRs are valid IPv4 CIDRs.', example: 'cidr: 10.300.0.0/16' },
    {
      id: 'cidr/not-aligned',
      severity: 'error',
      summary: 'CIDRs are network-aligned; the finding suggests the aligned form.',
      example: '10.128.0.1/16 -> write 10.128.0.0/16',
    },
    {
      id: 'cidr/area',
      severity: 'error',
      summary: "A site lies inside its area's supernet (China 10.0.0.0/9, overseas 10.128.0.0/9).",
      example: 'an overseas region at 10.64.0.0/16',
    },
    { id: 'cidr/prefix-length', severity: 'error', summary: "Sites use the plan's prefix length (/16).", example: 'cidr: 10.136.0.0/20' },
    {
      id: 'cidr/stride',
      severity: 'error',
      summary: 'Sites start on the stride (every 8th /16), keeping the next seven for growth.',
      example: 'cidr: 10.137.0.0/16',
    },
    { id: 'cidr/overlap', severity: 'error', summary: 'No two sites overlap.', example: 'two regions at 10.136.0.0/16' },
    { id: 'cidr/reserved', severity: 'error', summary: 'No site overlaps a reserved range of the plan.', example: 'a region inside a reserved 10.248.0.0/13' },
    {
      id: 'cidr/growth-reservation',
      severity: 'error',
      summary: "No site lies in another site's growth reservation.",
      example: '10.137.0.0/16 next to a region at 10.136.0.0/16',
    },
    {
      id: 'cidr/plan',
      severity: 'error',
      summary: 'The address plan itself is consistent: disjoint supernets, a stride that divides them.',
      example: 'both areas at 10.0.0.0/8',
    },
  ],
  check,
};
