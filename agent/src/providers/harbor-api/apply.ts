// apply: one core's changes, in dependency order (orderHarborChanges), each through one Harbor call or a
// few. First the preflight (preflight.ts): what Harbor would refuse stops the apply before any call. Secrets
// are resolved again right before they are pinned, and their fingerprint goes into the ownership marker.
// Stops at the first error: the changes not applied stay in the next plan.
import type { DesiredPolicy } from '../../desired/harbor.js';
import type { Desired } from '../../desired/types.js';
import type { SecretResolver } from '../../host/secrets.js';
import type { HarborInstance } from '../../model/schema.js';
import type { ApplyOutcome, Change, ProviderContext } from '../types.js';
import { EMPTY_ACTUAL, orderHarborChanges, type ActualHarbor, type HarborChangeData } from './changes.js';
import type { HarborApi } from './client.js';
import { withMarker } from './marker.js';
import { preflightHarbor } from './preflight.js';
import type { ReplicationPolicyReq } from './schema.js';

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

export async function applyHarborChanges(
  ctx: ProviderContext,
  changes: readonly Change[],
  desired: Desired,
  actual: ActualHarbor | undefined,
  clientFor: (instance: HarborInstance) => HarborApi,
  resolver: SecretResolver,
): Promise<ApplyOutcome> {
  const outcome: ApplyOutcome = { applied: [], deleted: [] };
  const h = desired.harbor;
  if (!h) return outcome;
  // Everything Harbor would refuse, and every secret this apply uses, before the first call.
  await preflightHarbor(h.instance.name, changes, resolver);
  const client = clientFor(h.instance);
  // A fresh empty state when there is none: the endpoints created below are added to it.
  const a = actual ?? { ...EMPTY_ACTUAL, registries: [] };
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
    outcome.applied.push(c);
    ctx.log.info({ action: c.action, id: c.id }, 'change applied');
  }
  return outcome;
}
