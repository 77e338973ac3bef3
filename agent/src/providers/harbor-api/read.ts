// read: one core's Harbor as it is. One paged list per kind - projects, quotas, registries, replication
// policies, robots (a no-op run makes 5 GET calls with up to 100 objects per kind) - and, for secrets, keyed
// fingerprints of the values the host's secret references resolve to (the only I/O on secrets: desired/
// deals in references). Harbor never reads a secret back (registries answer `*****`, robots nothing), so
// the fingerprint in the ownership marker is how a changed secret shows. Notes for the user (objects left
// alone, secrets that cannot be checked) go into the context.
import type { DesiredHarborObjects } from '../../desired/harbor.js';
import type { Desired } from '../../desired/types.js';
import { userMessageOf } from '../../errors.js';
import type { SecretResolver } from '../../host/secrets.js';
import type { HarborInstance } from '../../model/schema.js';
import type { Change, ProviderContext } from '../types.js';
import { changeId, EMPTY_ACTUAL, type ActualHarbor } from './changes.js';
import type { HarborApi } from './client.js';
import { diffHarbor, type HarborApiOptions } from './diff.js';

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

export async function readHarbor(
  ctx: ProviderContext,
  desired: Desired,
  clientFor: (instance: HarborInstance) => HarborApi,
  secrets: SecretResolver,
  opts: HarborApiOptions,
): Promise<ActualHarbor> {
  const h = desired.harbor;
  if (!h) return { ...EMPTY_ACTUAL, fingerprints: {} };
  const client = clientFor(h.instance);
  const want = h.objects;
  const [projects, quotas, registries, policies, robots] = await Promise.all([
    client.listProjects(),
    client.listQuotas({ reference: 'project' }),
    client.listRegistries(),
    client.listReplicationPolicies(),
    client.listRobots(),
  ]);
  const notes: string[] = [];
  const fingerprints = await resolveFingerprints(client, secrets, want, notes);
  const actual: ActualHarbor = { instance: h.instance.name, url: client.baseUrl, projects, quotas, registries, policies, robots, fingerprints };
  const changes = diffHarbor(desired, actual, new Set(ctx.inventory ?? []), opts);
  for (const n of [...notes, ...harborNotes(want, changes)]) if (!ctx.notes.includes(n)) ctx.notes.push(n);
  return actual;
}
