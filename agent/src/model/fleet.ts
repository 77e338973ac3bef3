// The resolved fleet: every valid object by kind and name, each with its source file for positions,
// and every link once, with both of its ends. Pure: built from a LoadResult.
import type { Finding } from './finding.js';
import type { LoadResult, LoadedObject } from './loader.js';
import { findingAt, type SourceFile } from './source.js';
import type { AgentCompatibility } from './compatibility.js';
import type {
  AcknowledgedRemovals,
  AddressPlan,
  Guardrails,
  HarborInstance,
  Hub,
  KindName,
  Link,
  LinkPolicy,
  Region,
  RegionDefaults,
  RoutingPolicy,
  Notifications,
} from './schema.js';
import type { RolloutPolicy } from './schema-rollout.js';

interface Located<T> {
  value: T;
  file: SourceFile;
}

type SiteRole = 'hub' | 'region';

export interface SiteEntry {
  name: string;
  role: SiteRole;
  /** The Hub or Region object; the shared fields are typed on both. */
  value: Hub | Region;
  file: SourceFile;
}

export interface FleetLink {
  /** `<a>--<b>` with the two site names sorted: the same whichever side declares it. */
  id: string;
  /** The site whose file declares the link ("local") and the other end ("remote"). */
  local: string;
  remote: string;
  link: Link;
  file: SourceFile;
  /** Index in the declaring site's `links`. */
  index: number;
}

interface Policies {
  addressPlan?: Located<AddressPlan>;
  linkPolicy?: Located<LinkPolicy>;
  routing?: Located<RoutingPolicy>;
  guardrails?: Located<Guardrails>;
  regionDefaults?: Located<RegionDefaults>;
  notifications?: Located<Notifications>;
  acknowledgedRemovals?: Located<AcknowledgedRemovals>;
  compatibility?: Located<AgentCompatibility>;
  rollout?: Located<RolloutPolicy>;
}

export interface Fleet {
  files: SourceFile[];
  hubs: Map<string, Located<Hub>>;
  regions: Map<string, Located<Region>>;
  /** Hubs and regions: one namespace. */
  sites: Map<string, SiteEntry>;
  harbors: Map<string, Located<HarborInstance>>;
  policies: Policies;
  links: FleetLink[];
  /** Names (any kind) that exist but failed the schema: references to them are not reported as dangling. */
  brokenNames: Set<string>;
  /** Kinds with at least one object that failed the schema. */
  brokenKinds: Set<string>;
}

const POLICY_KEYS: Partial<Record<KindName, keyof Policies>> = {
  AddressPlan: 'addressPlan',
  LinkPolicy: 'linkPolicy',
  RoutingPolicy: 'routing',
  Guardrails: 'guardrails',
  RegionDefaults: 'regionDefaults',
  Notifications: 'notifications',
  AcknowledgedRemovals: 'acknowledgedRemovals',
  AgentCompatibility: 'compatibility',
  RolloutPolicy: 'rollout',
};

export function linkId(a: string, b: string): string {
  return a < b ? `${a}--${b}` : `${b}--${a}`;
}

/** Build the fleet; duplicate names become findings (the first file in path order wins). */
export function buildFleet(load: LoadResult): { fleet: Fleet; findings: Finding[] } {
  const findings: Finding[] = [];
  const fleet: Fleet = {
    files: load.files,
    hubs: new Map(),
    regions: new Map(),
    sites: new Map(),
    harbors: new Map(),
    policies: {},
    links: [],
    brokenNames: new Set(load.invalid.map((i) => i.name)),
    brokenKinds: new Set(load.invalid.map((i) => i.kind)),
  };
  const objects = [...load.objects].sort((a, b) => (a.file.path < b.file.path ? -1 : 1));
  const duplicate = (obj: LoadedObject, other: string, what: string) =>
    findings.push(
      findingAt(
        obj.file,
        ['name'],
        'schema/duplicate-name',
        'error',
        `${what} "${obj.name}" is already defined in ${other}: names must be unique; rename one of them.`,
      ),
    );

  for (const obj of objects) {
    switch (obj.kind) {
      case 'Hub':
      case 'Region': {
        const existing = fleet.sites.get(obj.name);
        if (existing) {
          duplicate(obj, existing.file.path, 'Site');
          continue;
        }
        const role: SiteRole = obj.kind === 'Hub' ? 'hub' : 'region';
        const value = obj.value as Hub | Region;
        fleet.sites.set(obj.name, { name: obj.name, role, value, file: obj.file });
        if (obj.kind === 'Hub') fleet.hubs.set(obj.name, { value: obj.value as Hub, file: obj.file });
        else fleet.regions.set(obj.name, { value: obj.value as Region, file: obj.file });
        break;
      }
      case 'HarborInstance': {
        const existing = fleet.harbors.get(obj.name);
        if (existing) {
          duplicate(obj, existing.file.path, 'HarborInstance');
          continue;
        }
        fleet.harbors.set(obj.name, { value: obj.value as HarborInstance, file: obj.file });
        break;
      }
      default: {
        const key = POLICY_KEYS[obj.kind];
        if (!key) break;
        const existing = fleet.policies[key];
        if (existing) {
          findings.push(
            findingAt(
              obj.file,
              ['kind'],
              'schema/duplicate-name',
              'error',
              `There is already a ${obj.kind} in ${existing.file.path}: keep exactly one and merge the two.`,
            ),
          );
          continue;
        }
        (fleet.policies as Record<string, unknown>)[key] = { value: obj.value, file: obj.file };
      }
    }
  }

  for (const site of fleet.sites.values()) {
    site.value.links.forEach((link, index) => {
      fleet.links.push({ id: linkId(site.name, link.to), local: site.name, remote: link.to, link, file: site.file, index });
    });
  }
  return { fleet, findings };
}

/**
 * Whether a site is being decommissioned (`lifecycle: retiring`): the route computation keeps only its uplink
 * (its direct links, at both ends), so every other site drops what points to it, and its own desired state
 * holds only that uplink.
 */
export function isRetiring(site: SiteEntry | undefined): boolean {
  return site?.value.lifecycle === 'retiring';
}

/** The hub that serves an area (first by name if, wrongly, there are several). */
export function coreOf(fleet: Fleet, area: string): SiteEntry | undefined {
  let found: SiteEntry | undefined;
  for (const site of fleet.sites.values()) {
    if (site.role === 'hub' && site.value.area === area && (!found || site.name < found.name)) found = site;
  }
  return found;
}
