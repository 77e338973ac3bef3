// The shape of a diff between two revisions of the fleet: per site, what its desired state adds, changes
// and removes (the same compile the agent runs), the links, the topology and the address plan. Pure data:
// the JSON output is this, and the markdown and text renderings read only this.
import type { Finding } from '../../model/finding.js';
import type { Role } from '../../desired/types.js';
import type { Area, LinkType } from '../../model/schema.js';
import type { CompatibilityChange } from './compatibility.js';

export type Category =
  | 'routes'
  | 'tunnels'
  | 'containerd'
  | 'docker'
  | 'dragonfly'
  | 'cloud-routes'
  | 'harbor-config'
  | 'harbor-projects'
  | 'harbor-robots'
  | 'harbor-endpoints'
  | 'harbor-replication';

export const CATEGORIES: readonly Category[] = [
  'routes',
  'tunnels',
  'cloud-routes',
  'containerd',
  'docker',
  'dragonfly',
  'harbor-config',
  'harbor-projects',
  'harbor-robots',
  'harbor-endpoints',
  'harbor-replication',
];

export const CATEGORY_TITLES: Record<Category, string> = {
  routes: 'Routes (kernel, into WireGuard)',
  tunnels: 'WireGuard tunnels and peers',
  'cloud-routes': 'Cloud route tables',
  containerd: 'containerd mirrors (certs.d/*/hosts.toml)',
  docker: 'Docker registry mirrors (daemon.json)',
  dragonfly: 'dfdaemon.yaml',
  'harbor-config': 'Harbor settings (harbor.yml)',
  'harbor-projects': 'Harbor projects',
  'harbor-robots': 'Harbor robot accounts',
  'harbor-endpoints': 'Harbor registry endpoints',
  'harbor-replication': 'Harbor replication rules',
};

type ChangeAction = 'add' | 'change' | 'remove';
type Status = 'added' | 'changed' | 'removed';

/** One field of an item; values are display strings (secrets appear only as their references). */
export interface FieldChange {
  field: string;
  before?: string;
  after?: string;
}

export interface ItemChange {
  category: Category;
  /** The item within its category: a destination, a link id, a registry host, a dotted config key, a name. */
  id: string;
  action: ChangeAction;
  /** One line about the item as it is after the change (before, for a removal). */
  summary: string;
  /** add: every field; remove: every field (before); change: the fields that differ. */
  fields: FieldChange[];
}

/** A file (or WireGuard interface's settings) the site's agents will write differently, rendered by its provider. */
interface FileDiff {
  path: string;
  provider: string;
  action: ChangeAction;
  /** Unified diff of the base's and the head's rendering; secrets appear only as their references. */
  diff: string;
}

export interface SiteDiff {
  site: string;
  role: 'hub' | 'region';
  area: string;
  provider: string;
  status: Status;
  /**
   * The site is `lifecycle: retiring` in the head: its changes are its teardown (its agents remove what they
   * created, then report retired), and its neighbours' changes include dropping what points to it.
   */
  retiring?: true;
  /** The roles compiled (gateway+node for regions, gateway+hub for cores). */
  roles: Role[];
  changes: ItemChange[];
  counts: { add: number; change: number; remove: number };
  /** The files its agents will write, as unified diffs (containerd's under the default config_path). */
  files: FileDiff[];
  /** The restarts and reloads applying it runs on its hosts (with the default hook commands). */
  restarts: string[];
  /** The head's notes on what the agent cannot do for this site, new with this revision. */
  notes: string[];
  /** The rollout wave (the head's policies/rollout.yaml) in which this site gets the revision; absent without a rollout policy. */
  wave?: string;
}

export interface LinkDiff {
  id: string;
  a: string;
  b: string;
  type: LinkType;
  status: Status;
  /** The link's own fields that changed (for added and removed links: all of them). */
  fields: FieldChange[];
}

export interface TopologyNode {
  name: string;
  area: string;
  role: 'hub' | 'region';
  cidr: string;
  status: Status | 'unchanged';
  /** Retiring in the head (not at the base): drawn as going away (its links too). */
  retiring?: true;
}

export interface TopologyEdge {
  id: string;
  a: string;
  b: string;
  type: LinkType;
  mtu: number;
  status: Status | 'unchanged';
}

export interface Topology {
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export type BlockStatus = 'used' | 'reserved' | 'free' | 'conflict';

/** A run of stride blocks of one area with the same use (free runs collapsed). */
export interface AddressRow {
  /** First and last address of the run. */
  first: string;
  last: string;
  /** The run as a CIDR when it is one aligned block. */
  cidr?: string;
  blocks: number;
  status: BlockStatus;
  /** Sites (`name cidr`) and reservations (`reserved cidr (reason)`) in the run. */
  owners: string[];
  /** Compared with the base: added (was free), removed (now free) or changed (other owners). */
  change?: Status;
  /** The base's owners, when they differ. */
  before?: string[];
}

export interface AddressArea {
  area: Area;
  supernet: string;
  allocation: 'ascending' | 'descending';
  /** Addresses per stride block and the block as a prefix length (when a power of two). */
  blockSize: number;
  blockPrefix?: number;
  sitePrefix: number;
  stride: number;
  counts: { used: number; reserved: number; free: number; conflict: number };
  rows: AddressRow[];
  /** Sites of this area outside its supernet (the validator reports them). */
  outside: string[];
}

/** A guardrail the change would trip, judged by the base's guardrails as the agents will. */
export interface GuardrailTrip {
  guardrail: 'maxSiteRemovals' | 'maxLinkRemovals' | 'maxDeletionsPerApply' | 'protectedDestinations';
  /** The site whose agent refuses (per-host guardrails); absent for the fleet-wide ones, which every agent applies. */
  site?: string;
  message: string;
}

/** Terraform-like totals over every changed site's items (a route, a tunnel, a cloud route, a mirror, a config key, a Harbor object). */
interface PlanSummary {
  sites: number;
  add: number;
  change: number;
  destroy: number;
}

export interface FleetDiff {
  summary: PlanSummary;
  sites: SiteDiff[];
  links: LinkDiff[];
  topology: Topology;
  /** Empty when the head has no valid address plan. */
  addressPlan: AddressArea[];
  /** The address plan policy itself changed (supernets, prefix, stride, reservations). */
  addressPlanChanged: boolean;
  /** Guardrails this change would trip. */
  guardrails: GuardrailTrip[];
  /** The guardrails' own changes, `key: before → after`: they take effect one revision after this one. */
  guardrailsChanged: string[];
  notes: string[];
}

export interface RevisionInfo {
  /** As given (a branch, a tag, a sha). */
  rev: string;
  sha: string;
  valid: boolean;
  files: number;
  errors: Finding[];
  warnings: Finding[];
}

export interface DiffReport extends FleetDiff {
  base: RevisionInfo;
  head: RevisionInfo;
  /** false when the head is invalid: nothing is compared, the findings are the report. */
  compared: boolean;
  /** Any site, link or address block changes. */
  changed: boolean;
  /** policies/agent.yaml changed: whether the head needs a newer agent than the base declared (report/diff/compatibility.ts). */
  compatibility?: CompatibilityChange;
}
