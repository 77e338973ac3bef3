// The Harbor objects of a core (hub role): projects (with their quota, and proxy-cache projects of an
// endpoint), registry endpoints (declared ones and one to each other core its replication rules name),
// replication policies, and robot accounts whose secret is pinned from a secret reference.
//
// read   one paged list per kind: projects, quotas, registries, replication policies, robots (a no-op run
//        makes 5 GET calls with up to 100 objects per kind) and, for secrets, keyed fingerprints of the values
//        the host's secret references resolve to.
// diff   pure: Changes per object, `<instance>/<kind>/<name>`, with reasons; secrets never in before/after.
// apply  in dependency order (see orderHarborChanges).
//
// Ownership. Registries, policies and robots mirrornet creates end their description with `[mirrornet]`
// (or `[mirrornet <fingerprint>]` when they hold a secret): objects without it are never changed or deleted,
// only reported. Harbor projects have no description, so a project is deleted only when it is in this
// agent's inventory and holds no repositories; projects it finds are adopted (metadata and quota).
//
// Secrets. Harbor never reads a secret back (registries answer `*****`, robots nothing), so the marker
// carries an HMAC of the secret keyed with the admin password: when the value behind a secret reference
// changes on the host, the fingerprint differs and the next plan re-pins it. The fingerprint is not the
// secret and cannot be checked without the admin password.
//
// Order across the two cores. A push policy on the source core uses a registry endpoint whose credentials
// are the destination core's replication robot, and replicates into the destination's projects. So: the
// destination's projects and robots first, then the source's registry endpoint, then its policy; deletions
// run the other way round. orderHarborChanges sorts any mix of changes of several cores that way, and
// applyHarborCores applies a multi-core plan in that order (the lab and `mirrornet apply` of both cores).
// An agent on one core alone simply retries: creating the endpoint fails with Harbor's 400 "the registry is
// unhealthy" while the other core does not answer, and the next tick converges.
import { userMessageOf } from '../../errors.js';
import type { Desired, DesiredHarbor } from '../../desired/types.js';
import { MASK, type SecretResolver } from '../../host/secrets.js';
import type { HarborInstance } from '../../model/schema.js';
import type { ApplyOutcome, Change, Provider, ProviderContext } from '../types.js';
import type { HarborApi } from './client.js';
import type { Project, Quota, Registry, ReplicationPolicy, ReplicationPolicyReq, Robot, RobotPermissionReq } from './schema.js';

export {
  HarborApiClient,
  HarborApiError,
  harborClientFactory,
  isHarborError,
  nextLink,
  parseUrlMap,
  type HarborApi,
  type HarborClientFactoryOptions,
  type HarborClientOptions,
} from './client.js';

export const PROVIDER_ID = 'harbor-api' as const;

// ---- Ownership marker -------------------------------------------------------------------------------------

export const MARKER = '[mirrornet]';
const MARKER_RE = /\s*\[mirrornet(?: ([0-9a-f]{16}))?\]\s*$/;

/** `text [mirrornet]`, or `text [mirrornet <fingerprint>]` for objects that hold a secret. */
export function withMarker(text: string, fingerprint?: string): string {
  const tag = fingerprint ? `[mirrornet ${fingerprint}]` : MARKER;
  return text ? `${text} ${tag}` : tag;
}

export function ownedByMirrornet(description: string | null | undefined): boolean {
  return MARKER_RE.test(description ?? '');
}

export function markerFingerprint(description: string | null | undefined): string | undefined {
  return MARKER_RE.exec(description ?? '')?.[1];
}

export function stripMarker(description: string | null | undefined): string {
  return (description ?? '').replace(MARKER_RE, '');
}

// ---- Desired objects (pure) ---------------------------------------------------------------------------------

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

export interface DesiredRobot {
  name: string;
  text: string;
  duration: number;
  permissions: RobotPermissionReq[];
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

export interface HarborProviderOptions {
  /** The URL this core's Harbor uses for another core (default: its externalUrl). MIRRORNET_HARBOR_PEER_URLS. */
  peerUrl?: (peer: HarborInstance) => string | undefined;
  /** Harbor's robot name prefix (default `robot$`). */
  robotPrefix?: string;
}

const UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** `500Gi` -> bytes; `-1` -> -1 (unlimited). */
export function parseSize(size: string): number {
  if (size === '-1') return -1;
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(size);
  if (!m) throw new Error(`not a size: ${size}`);
  return Number(m[1]) * UNITS[m[2] ?? '']!;
}

export function peerEndpointName(peer: string): string {
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
export function replicationRobotOf(peer: HarborInstance, instance: HarborInstance, direction: 'push' | 'pull'): HarborInstance['robots'][number] | undefined {
  const need = direction === 'push' ? 'repository:push' : 'repository:pull';
  const candidates = peer.robots.filter((r) => r.permissions.some((p) => p.access.includes(need)));
  const words = [instance.name, instance.hub, ...instance.hub.split('-').filter((w) => w.length > 2)];
  const score = (r: HarborInstance['robots'][number]) => (r.name.startsWith('replication') ? 2 : 0) + (words.some((w) => r.name.includes(w)) ? 1 : 0);
  return [...candidates].sort((a, b) => score(b) - score(a))[0];
}

export function desiredHarborObjects(d: DesiredHarbor, opts: HarborProviderOptions = {}): DesiredHarborObjects {
  const inst = d.instance;
  const notes: string[] = [];
  const projects: DesiredProject[] = inst.projects.map((p) => ({
    name: p.name,
    public: p.public,
    ...(p.quota !== undefined ? { storageLimit: parseSize(p.quota) } : {}),
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
    const peer = d.peers.find((p) => p.name === peerName);
    if (!peer) {
      notes.push(
        `Harbor ${inst.name}: the replication rules name ${peerName}, which is not a HarborInstance in the repository; its endpoint and policies cannot be created.`,
      );
      continue;
    }
    const robot = replicationRobotOf(peer, inst, direction);
    if (!robot) {
      notes.push(
        `Harbor ${inst.name}: ${peer.name} declares no robot with repository:${direction === 'push' ? 'push' : 'pull'}, so the endpoint ${peerEndpointName(peer.name)} has no credentials and replication will be refused; add a replication robot to harbor/${peer.name}.yaml.`,
      );
    }
    registries.push({
      name: peerEndpointName(peer.name),
      type: 'harbor',
      url: opts.peerUrl?.(peer) ?? peer.externalUrl,
      insecure: false,
      text: `mirrornet: replication ${direction === 'push' ? 'to' : 'from'} ${peer.name}`,
      peer: peer.name,
      ...(robot ? { accessKey: `${opts.robotPrefix ?? 'robot$'}${robot.name}`, secretRef: robot.secret } : {}),
    });
  }
  const robots: DesiredRobot[] = inst.robots.map((r) => {
    const byProject = new Map<string, RobotPermissionReq>();
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

// ---- Actual state ---------------------------------------------------------------------------------------

export interface ActualHarbor {
  instance?: string;
  url?: string;
  projects: Project[];
  quotas: Quota[];
  registries: Registry[];
  policies: ReplicationPolicy[];
  robots: Robot[];
  /** Fingerprints of the secrets the repository wants, by change id (undefined: not resolvable here). */
  fingerprints: Record<string, string | undefined>;
}

export const EMPTY_ACTUAL: ActualHarbor = { projects: [], quotas: [], registries: [], policies: [], robots: [], fingerprints: {} };

// ---- Changes ----------------------------------------------------------------------------------------------

export type HarborKind = 'robot' | 'project' | 'quota' | 'registry' | 'policy';

export type HarborChangeData =
  | { kind: 'project'; instance: string; project: DesiredProject }
  | { kind: 'quota'; instance: string; project: string; quotaId: number; storage: number }
  | { kind: 'registry'; instance: string; registry: DesiredRegistry; registryId?: number }
  | { kind: 'policy'; instance: string; policy: DesiredPolicy; policyId?: number }
  | { kind: 'robot'; instance: string; robot: DesiredRobot; robotId?: number; fullName: string; repin: boolean; pinOnly: boolean }
  | { kind: 'delete'; instance: string; of: Exclude<HarborKind, 'quota'>; name: string; id: number };

export function changeId(instance: string, kind: HarborKind, name: string): string {
  return `${instance}/${kind}/${name}`;
}

function normUrl(u: string): string {
  try {
    const x = new URL(u.includes('://') ? u : `http://${u}`);
    return `${x.protocol}//${x.host}${x.pathname.replace(/\/+$/, '')}`.toLowerCase();
  } catch {
    return u.replace(/\/+$/, '').toLowerCase();
  }
}

function permKey(perms: { kind: string; namespace: string; access?: { resource: string; action: string }[] | null }[]): string {
  return perms
    .map(
      (p) =>
        `${p.kind}|${p.namespace}|${(p.access ?? [])
          .map((a) => `${a.resource}:${a.action}`)
          .sort()
          .join(',')}`,
    )
    .sort()
    .join(';');
}

function filterKey(filters: { type: string; value?: unknown; decoration?: string | null }[]): string {
  return filters
    .map((f) => JSON.stringify([f.type, f.value ?? null, f.decoration || 'matches']))
    .sort()
    .join(';');
}

function registryView(r: {
  name: string;
  type: string;
  url: string;
  insecure?: boolean | null;
  accessKey?: string | undefined;
  hasSecret: boolean;
}): Record<string, unknown> {
  return {
    name: r.name,
    type: r.type,
    url: r.url,
    insecure: r.insecure ?? false,
    ...(r.accessKey || r.hasSecret ? { credential: { access_key: r.accessKey ?? '', access_secret: r.hasSecret ? MASK : '' } } : {}),
  };
}

function policyView(p: {
  registry: string;
  direction: string;
  trigger: unknown;
  filters: unknown;
  deletion: boolean;
  override: boolean;
  enabled: boolean;
  speed: number;
  copyByChunk: boolean;
  destNamespace: string;
}): Record<string, unknown> {
  return {
    [p.direction === 'push' ? 'dest_registry' : 'src_registry']: p.registry,
    dest_namespace: p.destNamespace,
    trigger: p.trigger,
    filters: p.filters,
    deletion: p.deletion,
    override: p.override,
    enabled: p.enabled,
    speed: p.speed,
    copy_by_chunk: p.copyByChunk,
  };
}

function actualPolicyView(p: ReplicationPolicy, regName: (id: number | null | undefined) => string | undefined): Record<string, unknown> {
  const src = p.src_registry?.id ?? 0;
  const dst = p.dest_registry?.id ?? 0;
  return {
    ...(dst ? { dest_registry: regName(dst) ?? dst } : {}),
    ...(src ? { src_registry: regName(src) ?? src } : {}),
    dest_namespace: p.dest_namespace ?? '',
    trigger: { type: p.trigger?.type ?? 'manual', ...(p.trigger?.type === 'scheduled' ? { cron: p.trigger.trigger_settings?.cron ?? '' } : {}) },
    filters: (p.filters ?? []).map((f) => ({ type: f.type, value: f.value, ...(f.decoration ? { decoration: f.decoration } : {}) })),
    deletion: p.deletion ?? p.replicate_deletion ?? false,
    override: p.override ?? false,
    enabled: p.enabled ?? false,
    speed: p.speed ?? 0,
    copy_by_chunk: p.copy_by_chunk ?? false,
  };
}

const FOREIGN = (what: string, name: string) =>
  `${what} ${name} exists in Harbor but was not created by mirrornet (no ${MARKER} marker in its description): left alone. Delete it, or append ${MARKER} to its description to let mirrornet manage it.`;

/** Pure: the changes that make Harbor match the repository. */
export function diffHarbor(desired: Desired, actual: ActualHarbor, owned: ReadonlySet<string>, opts: HarborProviderOptions = {}): Change[] {
  const h = desired.harbor;
  if (!h) return [];
  const want = desiredHarborObjects(h, opts);
  const inst = want.instance;
  const prefix = opts.robotPrefix ?? 'robot$';
  const changes: Change[] = [];
  const push = (kind: HarborKind, name: string, action: Change['action'], reason: string, extra: Partial<Change> = {}) =>
    changes.push({ provider: PROVIDER_ID, id: changeId(inst, kind, name), action, reason, ...extra });

  const regByName = new Map(actual.registries.map((r) => [r.name, r]));
  const regName = (id: number | null | undefined) => actual.registries.find((r) => r.id === id)?.name;

  // Robots.
  const robotByName = new Map(actual.robots.map((r) => [r.name, r]));
  const wantedRobots = new Set<string>();
  for (const r of want.robots) {
    const full = `${prefix}${r.name}`;
    wantedRobots.add(full);
    const id = changeId(inst, 'robot', r.name);
    const fp = actual.fingerprints[id];
    const after = { name: full, description: r.text, duration: r.duration, permissions: r.permissions, secret: MASK };
    const have = robotByName.get(full);
    if (!have) {
      push('robot', r.name, 'create', `robot ${full} is missing; it is created and its secret pinned from ${r.secretRef}`, {
        after,
        data: { kind: 'robot', instance: inst, robot: r, fullName: full, repin: true, pinOnly: false } satisfies HarborChangeData,
      });
      continue;
    }
    if (!ownedByMirrornet(have.description)) {
      push('robot', r.name, 'noop', FOREIGN('Robot', full));
      continue;
    }
    const why: string[] = [];
    if (stripMarker(have.description) !== r.text) why.push('its description changed');
    if ((have.duration ?? -1) !== r.duration) why.push(`its duration is ${have.duration ?? '?'} days instead of ${r.duration}`);
    if (have.disable) why.push('it was disabled');
    if (permKey(have.permissions ?? []) !== permKey(r.permissions)) why.push('its permissions changed');
    const repin = fp !== undefined && markerFingerprint(have.description) !== fp;
    if (repin) why.push(markerFingerprint(have.description) ? `the secret behind ${r.secretRef} changed on this host` : 'its secret was never pinned');
    const before = {
      name: have.name,
      description: stripMarker(have.description),
      duration: have.duration,
      disable: have.disable ?? false,
      permissions: have.permissions ?? [],
      secret: MASK,
    };
    if (why.length) {
      push('robot', r.name, 'update', `robot ${full}: ${why.join(', ')}`, {
        before,
        after,
        data: {
          kind: 'robot',
          instance: inst,
          robot: r,
          robotId: have.id,
          fullName: have.name,
          repin,
          pinOnly: why.length === 1 && repin,
        } satisfies HarborChangeData,
      });
    } else push('robot', r.name, 'noop', 'in sync', { after });
  }
  for (const r of actual.robots) {
    if (wantedRobots.has(r.name) || !ownedByMirrornet(r.description) || (r.level && r.level !== 'system')) continue;
    const name = r.name.startsWith(prefix) ? r.name.slice(prefix.length) : r.name;
    push('robot', name, 'delete', `robot ${r.name} is no longer in the repository`, {
      before: { name: r.name, description: stripMarker(r.description) },
      data: { kind: 'delete', instance: inst, of: 'robot', name, id: r.id } satisfies HarborChangeData,
    });
  }

  // Registries.
  const wantedRegs = new Set<string>();
  for (const r of want.registries) {
    wantedRegs.add(r.name);
    const id = changeId(inst, 'registry', r.name);
    const fp = r.secretRef ? actual.fingerprints[id] : undefined;
    const after = registryView({ ...r, hasSecret: Boolean(r.secretRef) });
    const have = regByName.get(r.name);
    if (!have) {
      push(
        'registry',
        r.name,
        'create',
        r.peer ? `registry endpoint ${r.name} to ${r.peer} (${r.url}) is missing` : `registry endpoint ${r.name} (${r.url}) is missing`,
        {
          after,
          data: { kind: 'registry', instance: inst, registry: r } satisfies HarborChangeData,
        },
      );
      continue;
    }
    if (!ownedByMirrornet(have.description)) {
      push('registry', r.name, 'noop', FOREIGN('Registry endpoint', r.name));
      continue;
    }
    const why: string[] = [];
    if (have.type !== r.type) why.push(`its type is ${have.type}, not ${r.type} (Harbor cannot change a registry's type: delete it by hand)`);
    if (normUrl(have.url) !== normUrl(r.url)) why.push(`its URL is ${have.url}, not ${r.url}`);
    if ((have.insecure ?? false) !== r.insecure) why.push(`insecure is ${have.insecure ?? false}`);
    if (stripMarker(have.description) !== r.text) why.push('its description changed');
    if ((have.credential?.access_key ?? '') !== (r.accessKey ?? ''))
      why.push(`its access key is ${have.credential?.access_key || '(none)'}, not ${r.accessKey || '(none)'}`);
    if (!r.secretRef && have.credential?.access_secret) why.push('it holds a secret the repository does not give');
    if (r.secretRef && fp !== undefined && markerFingerprint(have.description) !== fp)
      why.push(markerFingerprint(have.description) ? `the secret behind ${r.secretRef} changed on this host` : 'its secret was never set by mirrornet');
    const before = registryView({
      name: have.name,
      type: have.type,
      url: have.url,
      insecure: have.insecure,
      accessKey: have.credential?.access_key ?? undefined,
      hasSecret: Boolean(have.credential?.access_secret),
    });
    if (have.type !== r.type) push('registry', r.name, 'noop', `registry endpoint ${r.name}: ${why[0]}`, { before, after });
    else if (why.length)
      push('registry', r.name, 'update', `registry endpoint ${r.name}: ${why.join(', ')}`, {
        before,
        after,
        data: { kind: 'registry', instance: inst, registry: r, registryId: have.id } satisfies HarborChangeData,
      });
    else push('registry', r.name, 'noop', 'in sync', { after });
  }

  // Projects (and their quotas).
  const quotaOf = (projectId: number) => actual.quotas.find((q) => Number(q.ref?.id) === projectId);
  const projByName = new Map(actual.projects.map((p) => [p.name, p]));
  const wantedProjects = new Set<string>();
  for (const p of want.projects) {
    wantedProjects.add(p.name);
    const after = {
      name: p.name,
      public: p.public,
      ...(p.storageLimit !== undefined ? { storage_limit: p.storageLimit } : {}),
      ...(p.proxyCache ? { proxy_cache: p.proxyCache } : {}),
    };
    const have = projByName.get(p.name);
    if (!have) {
      push('project', p.name, 'create', p.proxyCache ? `proxy-cache project ${p.name} of ${p.proxyCache} is missing` : `project ${p.name} is missing`, {
        after,
        data: { kind: 'project', instance: inst, project: p } satisfies HarborChangeData,
      });
      continue;
    }
    const haveProxy = have.registry_id ? (regName(have.registry_id) ?? `registry ${have.registry_id}`) : undefined;
    const proxyOk = p.proxyCache ? Boolean(have.registry_id) && regByName.get(p.proxyCache)?.id === have.registry_id : !have.registry_id;
    const proxyProblem = proxyOk
      ? undefined
      : `project ${p.name} is ${haveProxy ? `a proxy cache of ${haveProxy}` : 'a normal project'} but the repository wants ${p.proxyCache ? `a proxy cache of ${p.proxyCache}` : 'a normal project'}; Harbor cannot change that after creation: move its images, delete it by hand and the next run re-creates it`;
    const isPublic = have.metadata?.['public'] === 'true';
    if (isPublic !== p.public) {
      push(
        'project',
        p.name,
        'update',
        `project ${p.name} is ${isPublic ? 'public' : 'private'}; the repository wants it ${p.public ? 'public' : 'private'}${proxyProblem ? ` (and: ${proxyProblem})` : ''}`,
        {
          before: { name: p.name, public: isPublic },
          after: { name: p.name, public: p.public },
          data: { kind: 'project', instance: inst, project: p } satisfies HarborChangeData,
        },
      );
    } else push('project', p.name, 'noop', proxyProblem ?? 'in sync', { after });
    if (p.storageLimit !== undefined) {
      const q = quotaOf(have.project_id);
      const hard = q?.hard?.['storage'];
      if (q && hard !== p.storageLimit) {
        push(
          'quota',
          p.name,
          'update',
          `the quota of project ${p.name} is ${hard === -1 ? 'unlimited' : `${hard} bytes`}; the repository wants ${p.storageLimit === -1 ? 'unlimited' : `${p.storageLimit} bytes`}`,
          {
            before: { project: p.name, storage: hard },
            after: { project: p.name, storage: p.storageLimit },
            data: { kind: 'quota', instance: inst, project: p.name, quotaId: q.id, storage: p.storageLimit } satisfies HarborChangeData,
          },
        );
      }
    }
  }
  for (const p of actual.projects) {
    const id = changeId(inst, 'project', p.name);
    if (wantedProjects.has(p.name) || !owned.has(id)) continue;
    if ((p.repo_count ?? 0) > 0) {
      push(
        'project',
        p.name,
        'noop',
        `project ${p.name} is no longer in the repository but still holds ${p.repo_count} repositories: not deleted (move or delete them first)`,
      );
      continue;
    }
    push('project', p.name, 'delete', `project ${p.name} is no longer in the repository`, {
      before: { name: p.name },
      data: { kind: 'delete', instance: inst, of: 'project', name: p.name, id: p.project_id } satisfies HarborChangeData,
    });
  }

  // Replication policies.
  const polByName = new Map(actual.policies.map((p) => [p.name, p]));
  const wantedPolicies = new Set<string>();
  for (const p of want.policies) {
    wantedPolicies.add(p.name);
    const after = policyView(p);
    const have = polByName.get(p.name);
    if (!have) {
      push('policy', p.name, 'create', `replication policy ${p.name} (${p.direction} ${p.direction === 'push' ? 'to' : 'from'} ${p.registry}) is missing`, {
        after,
        data: { kind: 'policy', instance: inst, policy: p } satisfies HarborChangeData,
      });
      continue;
    }
    if (!ownedByMirrornet(have.description)) {
      push('policy', p.name, 'noop', FOREIGN('Replication policy', p.name));
      continue;
    }
    const before = actualPolicyView(have, regName);
    const why: string[] = [];
    const src = have.src_registry?.id ?? 0;
    const dst = have.dest_registry?.id ?? 0;
    const remoteId = regByName.get(p.registry)?.id;
    if (p.direction === 'push' ? src !== 0 || dst === 0 || dst !== remoteId : dst !== 0 || src === 0 || src !== remoteId)
      why.push(`it does not ${p.direction} ${p.direction === 'push' ? 'to' : 'from'} ${p.registry}`);
    if (stripMarker(have.description) !== p.text) why.push('its description changed');
    if ((have.dest_namespace ?? '') !== p.destNamespace) why.push('its destination namespace changed');
    if (filterKey(have.filters ?? []) !== filterKey(p.filters)) why.push('its filters changed');
    const haveCron = have.trigger?.type === 'scheduled' ? (have.trigger.trigger_settings?.cron ?? '') : undefined;
    if ((have.trigger?.type ?? 'manual') !== p.trigger.type || haveCron !== p.trigger.cron) why.push('its trigger changed');
    if ((have.deletion ?? have.replicate_deletion ?? false) !== p.deletion) why.push(`deletion is ${!p.deletion}`);
    if ((have.override ?? false) !== p.override) why.push(`override is ${!p.override}`);
    if ((have.enabled ?? false) !== p.enabled) why.push(p.enabled ? 'it was disabled' : 'it is enabled');
    if ((have.speed ?? 0) !== p.speed) why.push(`its speed limit is ${have.speed ?? 0} instead of ${p.speed}`);
    if ((have.copy_by_chunk ?? false) !== p.copyByChunk) why.push(`copy_by_chunk is ${!p.copyByChunk}`);
    if (why.length)
      push('policy', p.name, 'update', `replication policy ${p.name}: ${why.join(', ')}`, {
        before,
        after,
        data: { kind: 'policy', instance: inst, policy: p, policyId: have.id } satisfies HarborChangeData,
      });
    else push('policy', p.name, 'noop', 'in sync', { after });
  }
  for (const p of actual.policies) {
    if (wantedPolicies.has(p.name) || !ownedByMirrornet(p.description)) continue;
    push('policy', p.name, 'delete', `replication policy ${p.name} is no longer in the repository`, {
      before: actualPolicyView(p, regName),
      data: { kind: 'delete', instance: inst, of: 'policy', name: p.name, id: p.id } satisfies HarborChangeData,
    });
  }

  // Registries no longer wanted (after the policies and projects that use them are gone).
  for (const r of actual.registries) {
    if (wantedRegs.has(r.name) || !ownedByMirrornet(r.description)) continue;
    push('registry', r.name, 'delete', `registry endpoint ${r.name} is no longer in the repository`, {
      before: registryView({
        name: r.name,
        type: r.type,
        url: r.url,
        insecure: r.insecure,
        accessKey: r.credential?.access_key ?? undefined,
        hasSecret: Boolean(r.credential?.access_secret),
      }),
      data: { kind: 'delete', instance: inst, of: 'registry', name: r.name, id: r.id } satisfies HarborChangeData,
    });
  }
  return orderHarborChanges(changes);
}

// ---- Order ------------------------------------------------------------------------------------------------

/**
 * Rank of a change in a plan of one or several cores: projects and quotas, then robots (their permissions
 * name projects) - together the destination's side -, then registry endpoints (their credentials are the
 * other core's robot), then proxy-cache projects (they reference a registry), then policies; deletions
 * after all of that, in reverse dependency order.
 */
export function harborChangeRank(c: Change): number {
  const d = c.data as HarborChangeData | undefined;
  const kind = (d?.kind === 'delete' ? d.of : d?.kind) ?? (c.id.split('/')[1] as HarborKind | undefined);
  if (c.action === 'delete') return { policy: 6, robot: 7, project: 8, quota: 8, registry: 9 }[kind ?? 'policy'] ?? 10;
  if (c.action === 'noop') return 0;
  switch (kind) {
    case 'project':
      return d?.kind === 'project' && d.project.proxyCache ? 4 : 1;
    case 'quota':
      return 1;
    case 'robot':
      return 2;
    case 'registry':
      return 3;
    case 'policy':
      return 5;
    default:
      return 10;
  }
}

/** Stable sort of changes (of one or several cores) into the order they can be applied. */
export function orderHarborChanges(changes: readonly Change[]): Change[] {
  return changes
    .map((c, i) => ({ c, i, r: harborChangeRank(c) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.c);
}

// ---- Provider -----------------------------------------------------------------------------------------------

function harborNotes(want: DesiredHarborObjects, changes: Change[]): string[] {
  const notes = [...want.notes];
  for (const c of changes) if (c.action === 'noop' && c.reason !== 'in sync') notes.push(`Harbor ${want.instance}: ${c.reason}.`);
  return notes;
}

async function resolveFingerprints(
  client: HarborApi,
  secrets: SecretResolver,
  want: DesiredHarborObjects,
  notes: string[],
): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  const items: [string, string, string][] = [
    ...want.robots.map((r) => [changeId(want.instance, 'robot', r.name), r.name, r.secretRef] as [string, string, string]),
    ...want.registries.filter((r) => r.secretRef).map((r) => [changeId(want.instance, 'registry', r.name), r.name, r.secretRef!] as [string, string, string]),
  ];
  for (const [id, name, ref] of items) {
    try {
      const value = await secrets.resolve(ref);
      out[id] = await client.fingerprint(id.split('/')[1]!, name, value);
    } catch (err) {
      out[id] = undefined;
      notes.push(`Harbor ${want.instance}: cannot check the secret of ${id.split('/').slice(1).join(' ')}: ${userMessageOf(err)}`);
    }
  }
  return out;
}

/** Registry ids by name, refreshed from Harbor when a name is not known yet (created by an earlier step). */
class RegistryIds {
  private readonly byName: Map<string, number>;
  constructor(
    private readonly client: HarborApi,
    actual: ActualHarbor,
  ) {
    this.byName = new Map(actual.registries.map((r) => [r.name, r.id]));
  }
  set(name: string, id: number): void {
    this.byName.set(name, id);
  }
  async get(name: string): Promise<number> {
    let id = this.byName.get(name);
    if (id === undefined) {
      for (const r of await this.client.listRegistries()) this.byName.set(r.name, r.id);
      id = this.byName.get(name);
    }
    if (id === undefined) throw new Error(`the registry endpoint ${name} does not exist in Harbor (yet): it is created before what uses it; run again`);
    return id;
  }
}

function policyBody(p: DesiredPolicy, registryId: number): ReplicationPolicyReq {
  return {
    name: p.name,
    description: withMarker(p.text),
    ...(p.direction === 'push' ? { dest_registry: { id: registryId } } : { src_registry: { id: registryId } }),
    dest_namespace: p.destNamespace,
    filters: p.filters.map((f) => ({ type: f.type, value: f.value, ...(f.decoration ? { decoration: f.decoration } : {}) })),
    trigger: { type: p.trigger.type, ...(p.trigger.cron ? { trigger_settings: { cron: p.trigger.cron } } : {}) },
    deletion: p.deletion,
    override: p.override,
    enabled: p.enabled,
    speed: p.speed,
    copy_by_chunk: p.copyByChunk,
  };
}

export function createHarborApiProvider(
  clientFor: (instance: HarborInstance) => HarborApi,
  secrets?: SecretResolver,
  opts: HarborProviderOptions = {},
): Provider<ActualHarbor> {
  return {
    id: PROVIDER_ID,
    wants: (d) => d.harbor !== undefined,

    async read(ctx: ProviderContext, desired: Desired): Promise<ActualHarbor> {
      const h = desired.harbor;
      if (!h) return { ...EMPTY_ACTUAL, fingerprints: {} };
      const client = clientFor(h.instance);
      const want = desiredHarborObjects(h, opts);
      const [projects, quotas, registries, policies, robots] = await Promise.all([
        client.listProjects(),
        client.listQuotas({ reference: 'project' }),
        client.listRegistries(),
        client.listReplicationPolicies(),
        client.listRobots(),
      ]);
      const notes: string[] = [];
      const fingerprints = await resolveFingerprints(client, secrets ?? ctx.secrets, want, notes);
      const actual: ActualHarbor = { instance: h.instance.name, url: client.baseUrl, projects, quotas, registries, policies, robots, fingerprints };
      const changes = diffHarbor(desired, actual, new Set(ctx.inventory ?? []), opts);
      for (const n of [...notes, ...harborNotes(want, changes)]) if (!ctx.notes.includes(n)) ctx.notes.push(n);
      return actual;
    },

    diff: (desired, actual, owned) => diffHarbor(desired, actual ?? EMPTY_ACTUAL, owned, opts),

    async apply(ctx, changes, desired, actual): Promise<ApplyOutcome> {
      const outcome: ApplyOutcome = { applied: [], created: [], deleted: [] };
      const h = desired.harbor;
      if (!h) return outcome;
      const client = clientFor(h.instance);
      const resolver = secrets ?? ctx.secrets;
      const a = actual ?? EMPTY_ACTUAL;
      const regIds = new RegistryIds(client, a);
      for (const c of orderHarborChanges(changes)) {
        if (c.action === 'noop') continue;
        const d = c.data as HarborChangeData;
        switch (d.kind) {
          case 'robot': {
            const r = d.robot;
            const body = { description: withMarker(r.text), level: 'system' as const, duration: r.duration, disable: false, permissions: r.permissions };
            let robotId = d.robotId;
            let fullName = d.fullName;
            if (c.action === 'create') {
              // Created without a fingerprint: if we stop before the secret is pinned, the next run re-pins.
              const made = await client.createRobot({ name: r.name, ...body });
              robotId = made.id;
              fullName = made.name;
            }
            const secret = await resolver.resolve(r.secretRef);
            const fp = await client.fingerprint('robot', r.name, secret);
            if (d.repin || c.action === 'create') await client.refreshRobotSecret(robotId!, secret);
            await client.updateRobot(robotId!, { id: robotId!, name: fullName, ...body, description: withMarker(r.text, fp) });
            break;
          }
          case 'project': {
            const p = d.project;
            if (c.action === 'create') {
              await client.createProject({
                project_name: p.name,
                metadata: { public: String(p.public) },
                ...(p.storageLimit !== undefined ? { storage_limit: p.storageLimit } : {}),
                ...(p.proxyCache ? { registry_id: await regIds.get(p.proxyCache) } : {}),
              });
            } else await client.updateProject(p.name, { metadata: { public: String(p.public) } });
            break;
          }
          case 'quota':
            await client.updateQuota(d.quotaId, { storage: d.storage });
            break;
          case 'registry': {
            const r = d.registry;
            const secret = r.secretRef ? await resolver.resolve(r.secretRef) : undefined;
            const fp = secret !== undefined ? await client.fingerprint('registry', r.name, secret) : undefined;
            const description = withMarker(r.text, fp);
            if (c.action === 'create') {
              const id = await client.createRegistry({
                name: r.name,
                url: r.url,
                type: r.type,
                description,
                insecure: r.insecure,
                ...(r.accessKey || secret ? { credential: { type: 'basic', access_key: r.accessKey ?? '', access_secret: secret ?? '' } } : {}),
              });
              regIds.set(r.name, id);
              a.registries.push({ id, name: r.name, url: r.url, type: r.type, description, insecure: r.insecure });
            } else {
              await client.updateRegistry(d.registryId!, {
                name: r.name,
                url: r.url,
                description,
                insecure: r.insecure,
                credential_type: 'basic',
                access_key: r.accessKey ?? '',
                access_secret: secret ?? '',
              });
            }
            break;
          }
          case 'policy': {
            const body = policyBody(d.policy, await regIds.get(d.policy.registry));
            if (c.action === 'create') await client.createReplicationPolicy(body);
            else await client.updateReplicationPolicy(d.policyId!, { ...body, id: d.policyId! });
            break;
          }
          case 'delete': {
            if (d.of === 'policy') await client.deleteReplicationPolicy(d.id);
            else if (d.of === 'project') await client.deleteProject(d.name);
            else if (d.of === 'registry') await client.deleteRegistry(d.id);
            else await client.deleteRobot(d.id);
            break;
          }
        }
        if (c.action === 'delete') outcome.deleted.push(c.id);
        else outcome.created.push(c.id);
        outcome.applied.push(c);
        ctx.log.info({ action: c.action, id: c.id }, 'change applied');
      }
      return outcome;
    },
  };
}

// ---- Several cores at once ---------------------------------------------------------------------------------

export interface HarborCore {
  ctx: ProviderContext;
  desired: Desired;
}

export interface HarborCorePlan extends HarborCore {
  actual: ActualHarbor;
  changes: Change[];
}

/** Read and diff every core (one paged list per kind per core). */
export async function planHarborCores(provider: Provider<ActualHarbor>, cores: HarborCore[]): Promise<HarborCorePlan[]> {
  const plans: HarborCorePlan[] = [];
  for (const core of cores) {
    const actual = await provider.read(core.ctx, core.desired);
    plans.push({ ...core, actual, changes: provider.diff(core.desired, actual, new Set(core.ctx.inventory ?? [])) });
  }
  return plans;
}

/**
 * Apply the plans of several cores in dependency order across them (orderHarborChanges): the destination's
 * robots and projects before the source's registry endpoint and policies. Stops at the first error (the
 * next run converges); returns what each core applied.
 */
export async function applyHarborCores(
  provider: Provider<ActualHarbor>,
  plans: HarborCorePlan[],
): Promise<{ outcomes: ApplyOutcome[]; error?: { core: number; error: Error } }> {
  const owner = new Map<Change, number>();
  plans.forEach((p, i) => p.changes.forEach((c) => owner.set(c, i)));
  const ordered = orderHarborChanges(plans.flatMap((p) => p.changes.filter((c) => c.action !== 'noop')));
  const outcomes: ApplyOutcome[] = plans.map(() => ({ applied: [], created: [], deleted: [] }));
  let i = 0;
  while (i < ordered.length) {
    const core = owner.get(ordered[i]!)!;
    const segment: Change[] = [];
    while (i < ordered.length && owner.get(ordered[i]!) === core) segment.push(ordered[i++]!);
    const plan = plans[core]!;
    try {
      const out = await provider.apply(plan.ctx, segment, plan.desired, plan.actual);
      outcomes[core]!.applied.push(...out.applied);
      outcomes[core]!.created.push(...out.created);
      outcomes[core]!.deleted.push(...out.deleted);
    } catch (error) {
      return { outcomes, error: { core, error: error as Error } };
    }
  }
  return { outcomes };
}
