// diffHarbor (pure): the Changes that make one core's Harbor match the repository, one per object with a
// reason, `before`/`after` for display (secrets masked, never values), in the order they can be applied.
// Objects without the ownership marker are reported, never changed; registries, policies and robots with it
// are deleted once they leave the repository. Harbor projects have no description, so a project is deleted
// only when it is in this agent's inventory and holds no repositories; projects it finds are adopted
// (metadata and quota).
import { ROBOT_PREFIX, type DesiredHarborObjects } from '../../desired/harbor.js';
import type { Desired } from '../../desired/types.js';
import { MASK } from '../../host/secrets.js';
import type { Change } from '../types.js';
import { changeId, orderHarborChanges, PROVIDER_ID, type ActualHarbor, type HarborChangeData, type HarborKind } from './changes.js';
import { MARKER, markerFingerprint, ownedByMirrornet, stripMarker } from './marker.js';
import type { ReplicationPolicy } from './schema.js';

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
  `${what} ${name} exists in Harbor but was not created by mirrornet (no ${MARKER} marker in its description): left alone. ` +
  `Delete it, or append ${MARKER} to its description to let mirrornet manage it.`;

/** How this host reaches the other cores (set where the agent is configured). Robots are named with Harbor's default prefix `robot$`. */
export interface HarborApiOptions {
  /** The URL this core's Harbor uses for another core, by its name (default: its externalUrl). MIRRORNET_HARBOR_PEER_URLS. */
  peerUrl?: (peer: string) => string | undefined;
}

/** The desired objects (compiled into the desired state) as this host applies them: another core's endpoint at the URL this host reaches it by. */
function forThisHost(objects: DesiredHarborObjects, opts: HarborApiOptions): DesiredHarborObjects {
  const { peerUrl } = opts;
  if (!peerUrl) return objects;
  return { ...objects, registries: objects.registries.map((r) => (r.peer ? { ...r, url: peerUrl(r.peer) ?? r.url } : r)) };
}

/** Pure: the changes that make Harbor match the repository. */
export function diffHarbor(desired: Desired, actual: ActualHarbor, owned: ReadonlySet<string>, opts: HarborApiOptions = {}): Change[] {
  const h = desired.harbor;
  if (!h) return [];
  const want = forThisHost(h.objects, opts);
  const inst = want.instance;
  const changes: Change[] = [];
  const push = (kind: HarborKind, name: string, action: Change['action'], reason: string, extra: Partial<Change> = {}) =>
    changes.push({ provider: PROVIDER_ID, id: changeId(inst, kind, name), action, reason, ...extra });

  const regByName = new Map(actual.registries.map((r) => [r.name, r]));
  const regName = (id: number | null | undefined) => actual.registries.find((r) => r.id === id)?.name;

  // Robots.
  const robotByName = new Map(actual.robots.map((r) => [r.name, r]));
  const wantedRobots = new Set<string>();
  for (const r of want.robots) {
    const full = `${ROBOT_PREFIX}${r.name}`;
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
    const name = r.name.startsWith(ROBOT_PREFIX) ? r.name.slice(ROBOT_PREFIX.length) : r.name;
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
      : `project ${p.name} is ${haveProxy ? `a proxy cache of ${haveProxy}` : 'a normal project'} ` +
        `but the repository wants ${p.proxyCache ? `a proxy cache of ${p.proxyCache}` : 'a normal project'}; ` +
        'Harbor cannot change that after creation: move its images, delete it by hand and the next run re-creates it';
    const isPublic = have.metadata?.['public'] === 'true';
    if (isPublic !== p.public) {
      push(
        'project',
        p.name,
        'update',
        `project ${p.name} is ${isPublic ? 'public' : 'private'}; the repository wants it ${p.public ? 'public' : 'private'}` +
          (proxyProblem ? ` (and: ${proxyProblem})` : ''),
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
          `the quota of project ${p.name} is ${hard === -1 ? 'unlimited' : `${hard} bytes`}; ` +
            `the repository wants ${p.storageLimit === -1 ? 'unlimited' : `${p.storageLimit} bytes`}`,
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
