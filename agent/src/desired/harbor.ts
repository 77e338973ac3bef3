// The Harbor objects a core's repository asks for, derived from its HarborInstance (and the peers its
// replication rules name): projects (with their quota, and proxy-cache projects of an endpoint), registry
// endpoints (declared ones and one to each other core it replicates with, authenticated as that core's
// replication robot), replication policies and robot accounts. Pure, like the rest of desired/: secrets stay
// references (the harbor-api provider resolves them when it reads and applies), nothing here reads a host.
// Computed once, in compile(): the harbor-api provider and the pull request diff both read them from the
// desired state. What only a host knows (the URL it reaches another core by) the provider lays over them.
import { quotaBytes, type HarborInstance } from '../model/schema.js';
import type { DesiredHarbor } from './types.js';

export interface DesiredProject {
  name: string;
  public: boolean;
  /** Bytes, -1 unlimited; undefined: quota not managed. */
  storageLimit?: number;
  /** A proxy-cache project of this registry endpoint (by name); cannot change once created. */
  proxyCache?: string;
}

export interface DesiredRegistry {
  name: string;
  type: string;
  url: string;
  insecure: boolean;
  /** Description without the marker. */
  text: string;
  accessKey?: string;
  /** Secret reference of the access secret (resolved at apply). */
  secretRef?: string;
  /** The other core this endpoint points to. */
  peer?: string;
}

export interface DesiredPolicy {
  name: string;
  text: string;
  /** push: this core is the source (dest_registry = the endpoint); pull: this core is the destination. */
  direction: 'push' | 'pull';
  registry: string;
  destNamespace: string;
  filters: { type: string; value: unknown; decoration?: string }[];
  trigger: { type: string; cron?: string };
  deletion: boolean;
  override: boolean;
  enabled: boolean;
  speed: number;
  copyByChunk: boolean;
}

/** A robot's access to one project, as Harbor's API takes it. */
interface DesiredRobotPermission {
  kind: 'project';
  namespace: string;
  access: { resource: string; action: string }[];
}

export interface DesiredRobot {
  name: string;
  text: string;
  duration: number;
  permissions: DesiredRobotPermission[];
  /** Secret reference of the robot's secret (resolved at read and apply). */
  secretRef: string;
}

export interface DesiredHarborObjects {
  instance: string;
  projects: DesiredProject[];
  registries: DesiredRegistry[];
  policies: DesiredPolicy[];
  robots: DesiredRobot[];
  notes: string[];
}

/** Harbor's default robot name prefix: the access key of another core's robot is `robot$<name>`. */
export const ROBOT_PREFIX = 'robot$';

function peerEndpointName(peer: string): string {
  return `mirrornet-${peer}`;
}

function splitAccess(a: string): { resource: string; action: string } {
  const i = a.indexOf(':');
  return { resource: a.slice(0, i), action: a.slice(i + 1) };
}

/**
 * The robot of `peer` that `instance` replicates with: a robot of the peer granted repository:push (push
 * rules) or repository:pull (pull rules); among several, one whose name starts with `replication`, then one
 * whose name mentions this instance or its core (e.g. replication-from-beijing), then the first declared.
 */
function replicationRobotOf(peer: HarborInstance, instance: HarborInstance, direction: 'push' | 'pull'): HarborInstance['robots'][number] | undefined {
  const need = direction === 'push' ? 'repository:push' : 'repository:pull';
  const candidates = peer.robots.filter((r) => r.permissions.some((p) => p.access.includes(need)));
  const words = [instance.name, instance.hub, ...instance.hub.split('-').filter((w) => w.length > 2)];
  const score = (r: HarborInstance['robots'][number]) => (r.name.startsWith('replication') ? 2 : 0) + (words.some((w) => r.name.includes(w)) ? 1 : 0);
  return [...candidates].sort((a, b) => score(b) - score(a))[0];
}

/** A core's Harbor: its HarborInstance and the objects it asks for, given the other Harbors its replication rules name. */
export function desiredHarbor(inst: HarborInstance, peers: readonly HarborInstance[]): DesiredHarbor {
  return { instance: inst, objects: harborObjects(inst, peers) };
}

function harborObjects(inst: HarborInstance, peers: readonly HarborInstance[]): DesiredHarborObjects {
  const notes: string[] = [];
  const projects: DesiredProject[] = inst.projects.map((p) => ({
    name: p.name,
    public: p.public,
    ...(p.quota !== undefined ? { storageLimit: quotaBytes(p.quota) } : {}),
    ...(p.proxyCache ? { proxyCache: p.proxyCache.endpoint } : {}),
  }));
  const registries: DesiredRegistry[] = inst.endpoints.map((e) => ({
    name: e.name,
    type: e.type,
    url: e.url,
    insecure: e.insecure,
    text: `mirrornet endpoint ${e.name}`,
    ...(e.accessKey ? { accessKey: e.accessKey } : {}),
    ...(e.accessSecret ? { secretRef: e.accessSecret } : {}),
  }));
  const policies: DesiredPolicy[] = [];
  const peerDirection = new Map<string, 'push' | 'pull'>();
  for (const rule of inst.replication) {
    const direction = rule.source === inst.name ? 'push' : rule.destination === inst.name ? 'pull' : undefined;
    if (!direction) continue;
    const peerName = direction === 'push' ? rule.destination : rule.source;
    if (!peerDirection.has(peerName) || direction === 'push') peerDirection.set(peerName, direction);
    policies.push({
      name: rule.name,
      text: rule.description ?? `mirrornet: ${rule.source} -> ${rule.destination}`,
      direction,
      registry: peerEndpointName(peerName),
      destNamespace: rule.destinationNamespace ?? '',
      filters: rule.filters.map((f) => ({
        type: f.type,
        value: f.type === 'label' ? [f.value] : f.value,
        ...(f.decoration ? { decoration: f.decoration } : {}),
      })),
      trigger: { type: rule.trigger.type, ...(rule.trigger.type === 'scheduled' && rule.trigger.cron ? { cron: rule.trigger.cron } : {}) },
      deletion: rule.deletion,
      override: rule.override,
      enabled: rule.enabled,
      speed: Math.max(0, rule.speedKbps),
      copyByChunk: rule.copyByChunk,
    });
  }
  for (const [peerName, direction] of peerDirection) {
    const peer = peers.find((p) => p.name === peerName);
    if (!peer) {
      notes.push(
        `Harbor ${inst.name}: the replication rules name ${peerName}, which is not a HarborInstance in the repository; ` +
          'its endpoint and policies cannot be created.',
      );
      continue;
    }
    const robot = replicationRobotOf(peer, inst, direction);
    if (!robot) {
      notes.push(
        `Harbor ${inst.name}: ${peer.name} declares no robot with repository:${direction === 'push' ? 'push' : 'pull'}, ` +
          `so the endpoint ${peerEndpointName(peer.name)} has no credentials and replication will be refused; ` +
          `add a replication robot to harbor/${peer.name}.yaml.`,
      );
    }
    registries.push({
      name: peerEndpointName(peer.name),
      type: 'harbor',
      url: peer.externalUrl,
      insecure: false,
      text: `mirrornet: replication ${direction === 'push' ? 'to' : 'from'} ${peer.name}`,
      peer: peer.name,
      ...(robot ? { accessKey: `${ROBOT_PREFIX}${robot.name}`, secretRef: robot.secret } : {}),
    });
  }
  const robots: DesiredRobot[] = inst.robots.map((r) => {
    const byProject = new Map<string, DesiredRobotPermission>();
    for (const p of r.permissions) {
      const e = byProject.get(p.project) ?? { kind: 'project' as const, namespace: p.project, access: [] };
      for (const a of p.access) if (!e.access.some((x) => `${x.resource}:${x.action}` === a)) e.access.push(splitAccess(a));
      byProject.set(p.project, e);
    }
    return {
      name: r.name,
      text: r.description ?? `mirrornet robot ${r.name}`,
      duration: r.duration,
      permissions: [...byProject.values()],
      secretRef: r.secret,
    };
  });
  return { instance: inst.name, projects, registries, policies, robots, notes };
}
