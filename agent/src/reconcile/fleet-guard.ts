// The fleet-wide guardrail: what a revision removes from the fleet — sites (regions and cores) and the links
// between them — compared with the revision before it, and judged by the limits of that earlier revision
// (a commit cannot raise the limit that judges it). One pure judgement for `mirrornet validate --base` in
// CI, for every agent before it plans a new revision (even when CI was bypassed), and for the pull-request
// comment. A removal does not count when its site was retiring in the revision before, or when the new
// revision names it in policies/acknowledged-removals.yaml.
import { linkId, type Fleet } from '../model/fleet.js';
import { DEFAULT_MAX_LINK_REMOVALS, DEFAULT_MAX_SITE_REMOVALS } from '../model/guardrail-defaults.js';
import type { Guardrails } from '../model/schema.js';

/** What the judgement needs of one revision's fleet: small and plain, so the agent keeps its applied revision's. */
export interface FleetOutline {
  sites: { name: string; role: 'hub' | 'region'; retiring?: true }[];
  /** Links between two sites of the fleet, by id (`a--b`, the names sorted). */
  links: string[];
  /** The two sites of each link, by id (a name may itself hold `--`, so an id is not split). */
  linkEnds?: Record<string, [string, string]>;
  /** What the revision's acknowledgement of removals names (absent: it has none). */
  acknowledged?: { file: string; sites: string[]; links: string[] };
  /** The file the revision's guardrails come from, for the sentence that names the limit. */
  guardrailsFile?: string;
}

/** The part of a fleet the fleet-wide guardrail compares. */
export function fleetOutline(fleet: Fleet): FleetOutline {
  const sites = [...fleet.sites.values()]
    .map((s) => ({ name: s.name, role: s.role, ...(s.value.lifecycle === 'retiring' ? { retiring: true as const } : {}) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const links = new Set<string>();
  const linkEnds: Record<string, [string, string]> = {};
  for (const l of fleet.links) {
    if (l.local === l.remote || !fleet.sites.has(l.local) || !fleet.sites.has(l.remote)) continue;
    links.add(l.id);
    linkEnds[l.id] = [l.local, l.remote];
  }
  const ack = fleet.policies.acknowledgedRemovals;
  const guardrails = fleet.policies.guardrails;
  return {
    sites,
    links: [...links].sort(),
    linkEnds,
    ...(ack
      ? {
          acknowledged: {
            file: ack.file.path,
            sites: [...new Set(ack.value.removals.flatMap((r) => r.sites))].sort(),
            links: [...new Set(ack.value.removals.flatMap((r) => r.links.map(([a, b]) => linkId(a, b))))].sort(),
          },
        }
      : {}),
    ...(guardrails ? { guardrailsFile: guardrails.file.path } : {}),
  };
}

type RemovalGuardrail = 'maxSiteRemovals' | 'maxLinkRemovals';

interface RemovalTrip {
  guardrail: RemovalGuardrail;
  /** The removed sites or links that count: not retiring before, not acknowledged. */
  counted: string[];
  limit: number;
  /** Set when the revision removes every region, every core or every link: refused whatever the limit. */
  everything?: 'regions' | 'cores' | 'links';
  /** What is removed, the limit and where it is set, and the two ways to remove it on purpose. */
  message: string;
}

export interface RemovalJudgement {
  removed: { sites: string[]; links: string[] };
  /** Removed sites that were not retiring at the base and are not acknowledged: their files must not go yet. */
  unretired: string[];
  /** Removed, but not counted: why. */
  excused: { item: string; why: 'retiring' | 'acknowledged' }[];
  trips: RemovalTrip[];
}

const ACKNOWLEDGEMENT_FILE = 'policies/acknowledged-removals.yaml';

function names(list: string[]): string {
  const shown = list.slice(0, 8).join(', ');
  return list.length > 8 ? `${shown} and ${list.length - 8} more` : shown;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Compare `head` with `base` under the removal limits of `base` (its guardrails; defaults where it has
 * none). Pure.
 */
export function judgeRemovals(
  base: FleetOutline,
  head: FleetOutline,
  limits: Partial<Pick<Guardrails, 'maxSiteRemovals' | 'maxLinkRemovals'>> | undefined,
): RemovalJudgement {
  const headSites = new Set(head.sites.map((s) => s.name));
  const headLinks = new Set(head.links);
  const removedSites = base.sites.filter((s) => !headSites.has(s.name));
  const removedLinks = base.links.filter((l) => !headLinks.has(l));
  const ackSites = new Set(head.acknowledged?.sites ?? []);
  const ackLinks = new Set(head.acknowledged?.links ?? []);
  const retiring = new Set(base.sites.filter((s) => s.retiring).map((s) => s.name));
  const excused: RemovalJudgement['excused'] = [];
  const goneOnPurpose = new Set<string>();
  const countedSites = removedSites.filter((s) => {
    const why = retiring.has(s.name) ? 'retiring' : ackSites.has(s.name) ? 'acknowledged' : undefined;
    if (!why) return true;
    excused.push({ item: s.name, why });
    goneOnPurpose.add(s.name);
    return false;
  });
  const countedLinks = removedLinks.filter((id) => {
    // An outline kept by an agent before it recorded the ends: the id split (right unless a name holds `--`).
    const ends = base.linkEnds?.[id] ?? id.split('--');
    const why = ends.some((e) => retiring.has(e)) ? 'retiring' : ackLinks.has(id) || ends.some((e) => goneOnPurpose.has(e)) ? 'acknowledged' : undefined;
    if (!why) return true;
    excused.push({ item: id, why });
    return false;
  });

  const where = (key: RemovalGuardrail, limit: number) =>
    base.guardrailsFile
      ? `${key}: ${limit} in ${base.guardrailsFile} of the revision before it`
      : `${key}: ${limit}, the default: the revision before it has no guardrails`;
  const ackFile = head.acknowledged?.file ?? ACKNOWLEDGEMENT_FILE;
  const trips: RemovalTrip[] = [];

  const siteLimit = limits?.maxSiteRemovals ?? DEFAULT_MAX_SITE_REMOVALS;
  const regionsLeft = head.sites.some((s) => s.role === 'region');
  const coresLeft = head.sites.some((s) => s.role === 'hub');
  const countedRegions = countedSites.filter((s) => s.role === 'region');
  const countedCores = countedSites.filter((s) => s.role === 'hub');
  const siteEverything = !regionsLeft && countedRegions.length ? 'regions' : !coresLeft && countedCores.length ? 'cores' : undefined;
  if (countedSites.length > siteLimit || siteEverything) {
    const list = countedSites.map((s) => s.name);
    const what = siteEverything
      ? `This revision removes every ${siteEverything === 'regions' ? 'region' : 'core'} (${names(list)}), which takes the fleet down: ` +
        `refused whatever the limit (${where('maxSiteRemovals', siteLimit)}).`
      : `This revision removes ${plural(list.length, 'site')} (${names(list)}), more than the fleet-wide limit ` + `(${where('maxSiteRemovals', siteLimit)}).`;
    trips.push({
      guardrail: 'maxSiteRemovals',
      counted: list,
      limit: siteLimit,
      ...(siteEverything ? { everything: siteEverything } : {}),
      message:
        `${what} To remove them on purpose, either mark each \`lifecycle: retiring\` in its file in a change of its own and let the ` +
        `agents apply it before the change that deletes it, or name them with a reason in ${ackFile} in the change that deletes them.`,
    });
  }

  const linkLimit = limits?.maxLinkRemovals ?? DEFAULT_MAX_LINK_REMOVALS;
  const linkEverything = head.links.length === 0 && countedLinks.length > 0;
  if (countedLinks.length > linkLimit || linkEverything) {
    const what = linkEverything
      ? `This revision removes every link (${names(countedLinks)}), which cuts every site off: ` +
        `refused whatever the limit (${where('maxLinkRemovals', linkLimit)}).`
      : `This revision removes ${plural(countedLinks.length, 'link')} (${names(countedLinks)}), more than the fleet-wide limit ` +
        `(${where('maxLinkRemovals', linkLimit)}).`;
    trips.push({
      guardrail: 'maxLinkRemovals',
      counted: countedLinks,
      limit: linkLimit,
      ...(linkEverything ? { everything: 'links' as const } : {}),
      message:
        `${what} To remove them on purpose, either retire a site at one end first (\`lifecycle: retiring\`, applied by the agents ` +
        `before the change that deletes it), or name the links with a reason in ${ackFile} in the change that deletes them.`,
    });
  }
  return { removed: { sites: removedSites.map((s) => s.name), links: removedLinks }, unretired: countedSites.map((s) => s.name), excused, trips };
}

/** Dotted keys of a guardrails object to display strings. */
function guardrailValues(g: Guardrails | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (v: unknown, key: string) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, key ? `${key}.${k}` : k);
    else if (v !== undefined) out.set(key, Array.isArray(v) ? `[${v.join(', ')}]` : String(v));
  };
  if (g) {
    const { kind: _kind, name: _name, description: _description, ...rest } = g;
    void [_kind, _name, _description];
    walk(rest, '');
  }
  return out;
}

/** What changes in the guardrails between two revisions, as `key: before → after` (empty: nothing). Pure. */
export function guardrailChanges(base: Guardrails | undefined, head: Guardrails | undefined): string[] {
  const b = guardrailValues(base);
  const h = guardrailValues(head);
  const out: string[] = [];
  for (const key of [...new Set([...b.keys(), ...h.keys()])].sort()) {
    if (b.get(key) !== h.get(key)) out.push(`${key}: ${b.get(key) ?? '(unset)'} → ${h.get(key) ?? '(unset)'}`);
  }
  return out;
}
