// What the agent keeps of the revision it applied last (`<state-dir>/desired.json`): its desired state,
// guardrails, notifications and fleet outline, so drift checks and the fleet-wide guardrail need no checkout.
// The file names its revision, so a state moved on by `mirrornet apply` by hand is never judged by an older one.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { desiredHarbor } from '../desired/harbor.js';
import type { Desired, DesiredHarbor } from '../desired/types.js';
import { HostFiles } from '../host/files.js';
import type { Area, Guardrails, HarborInstance, Notifications } from '../model/schema.js';
import type { RevisionOrigin } from './evaluate.js';
import type { FleetOutline } from './fleet-guard.js';

/** What the agent keeps of the last applied revision: enough to check drift and to report, no checkout. */
export interface Applied {
  desired: Desired;
  guardrails?: Guardrails;
  notifications?: Notifications;
  area?: Area;
  /** The fleet's sites and links, for the fleet-wide guardrail (absent when applied by an agent without it). */
  outline?: FleetOutline;
  /** A bundle revision's order and manifest: a bundle older than this one is refused. */
  origin?: RevisionOrigin;
}

const FILE = 'desired.json';

/**
 * The last applied revision's desired state. With `revision`, only if it is that revision's: after a `mirrornet
 * apply` by hand the state names a newer revision than desired.json, which must then be evaluated again rather
 * than healed back to. A file written before it named its revision is taken as it is.
 */
export async function loadApplied(stateDir: string, revision?: string): Promise<Applied | undefined> {
  try {
    const data = JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as Partial<Applied> & { revision?: string };
    if (!data.desired) return undefined;
    if (revision !== undefined && data.revision !== undefined && data.revision !== revision) return undefined;
    return {
      desired: upgraded(data.desired),
      ...(data.guardrails ? { guardrails: data.guardrails } : {}),
      ...(data.notifications ? { notifications: data.notifications } : {}),
      ...(data.area ? { area: data.area } : {}),
      ...(data.outline ? { outline: data.outline } : {}),
      ...(data.origin ? { origin: data.origin } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * A desired state saved by an earlier agent, in today's shape: before bundle schema 3 a core's Harbor carried
 * only its peers, and its objects were derived at plan time; they are compiled from the same inputs now.
 */
function upgraded(desired: Desired): Desired {
  const harbor = desired.harbor as (Partial<DesiredHarbor> & { instance: DesiredHarbor['instance']; peers?: HarborInstance[] }) | undefined;
  if (!harbor || harbor.objects) return desired;
  return { ...desired, harbor: desiredHarbor(harbor.instance, harbor.peers ?? []) };
}

export async function saveApplied(stateDir: string, revision: string, applied: Applied): Promise<void> {
  await new HostFiles(stateDir).writeAtomic(FILE, `${JSON.stringify({ revision, ...applied })}\n`, { mode: 0o600 });
}
