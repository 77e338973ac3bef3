// Before the first call of an apply: every request the changes will send, checked with Harbor 2.15's own
// checks (model/constraints/harbor-api-checks.ts, the ones the emulator answers with), and every secret the
// apply will use resolved on this host, the robot secrets it will pin checked against Harbor's rule. A change
// Harbor would refuse stops the whole apply before anything is created, so a refusal never leaves some of a
// core's objects created and the rest missing. Messages name the change and Harbor's words, never a secret.
import type { SecretResolver } from '../../host/secrets.js';
import { MirrornetError } from '../../errors.js';
import {
  policySpeedRefusal,
  policyStoredRefusal,
  policyValidateRefusal,
  projectNameRefusal,
  projectPublicRefusal,
  projectStorageRefusal,
  quotaHardRefusal,
  registryRefusal,
  registryStoredRefusal,
  robotNameRefusal,
  robotSecretRefusal,
  robotStoredRefusal,
  robotValidateRefusal,
  type HarborRefusal,
} from '../../model/constraints/harbor-api-checks.js';
import type { Change } from '../types.js';
import type { HarborChangeData } from './changes.js';
import { withMarker } from './marker.js';

/** Harbor would refuse some of the changes: nothing was applied. */
export class HarborPreflightError extends MirrornetError {
  constructor(
    readonly instance: string,
    readonly refusals: readonly string[],
  ) {
    super(
      `Nothing was applied to Harbor ${instance}: Harbor 2.15 would refuse ${refusals.length} of the changes, so none is made ` +
        `(a refusal halfway would leave some objects created and others missing). ${refusals.join(' ')} ` +
        'Fix the repository (or the secret on this host) and run again; `mirrornet validate` reports the repository values.',
    );
  }
}

/** A fingerprint's length in the marker (markerFingerprint): what the description will hold. */
const FINGERPRINT = '0'.repeat(16);

function describe(id: string, r: HarborRefusal): string {
  return `${id}: HTTP ${r.status} ${r.code} "${r.message}".`;
}

/** What Harbor would refuse in one change, in the order its handler checks; secrets resolved through `resolver`. */
async function refusalsOf(c: Change, d: HarborChangeData, resolver: SecretResolver): Promise<HarborRefusal[]> {
  const out: (HarborRefusal | undefined)[] = [];
  switch (d.kind) {
    case 'project': {
      const p = d.project;
      out.push(projectPublicRefusal(String(p.public)));
      if (c.action === 'create') {
        if (p.storageLimit !== undefined && p.storageLimit !== 0) out.push(projectStorageRefusal(p.storageLimit));
        out.push(projectNameRefusal(p.name));
      }
      break;
    }
    case 'quota':
      out.push(quotaHardRefusal({ storage: d.storage }));
      break;
    case 'registry': {
      const r = d.registry;
      const checked = registryRefusal({ name: r.name, url: r.url, type: r.type });
      out.push('refusal' in checked ? checked.refusal : registryStoredRefusal(checked.url, r.accessKey));
      if (r.secretRef) await resolver.resolve(r.secretRef);
      break;
    }
    case 'policy': {
      const p = d.policy;
      const input = {
        name: p.name,
        // Any existing registry: the endpoint may be created earlier in this apply.
        ...(p.direction === 'push' ? { destRegistryId: 1 } : { srcRegistryId: 1 }),
        destNamespace: p.destNamespace,
        filters: p.filters,
        trigger: { type: p.trigger.type, ...(p.trigger.cron !== undefined ? { cron: p.trigger.cron } : {}) },
      };
      out.push(policySpeedRefusal(p.speed), policyValidateRefusal(input), policyStoredRefusal(input));
      break;
    }
    case 'robot': {
      const r = d.robot;
      if (c.action === 'create') out.push(robotNameRefusal(r.name));
      out.push(robotValidateRefusal(r.duration, 'system', r.permissions), robotStoredRefusal(r.name, withMarker(r.text, FINGERPRINT)));
      const secret = await resolver.resolve(r.secretRef);
      if (c.action === 'create' || d.repin) out.push(robotSecretRefusal(secret));
      break;
    }
    case 'delete':
      break;
  }
  return out.filter((r): r is HarborRefusal => r !== undefined);
}

/** Throws HarborPreflightError listing every change Harbor would refuse; resolves every secret the apply uses. */
export async function preflightHarbor(instance: string, changes: readonly Change[], resolver: SecretResolver): Promise<void> {
  const refusals: string[] = [];
  for (const c of changes) {
    if (c.action === 'noop' || c.action === 'delete' || !c.data) continue;
    const first = (await refusalsOf(c, c.data as HarborChangeData, resolver))[0];
    if (first) refusals.push(describe(c.id, first));
  }
  if (refusals.length) throw new HarborPreflightError(instance, refusals);
}
