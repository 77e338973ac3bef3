// The agent's state directory: last applied revision, the inventory of what it created (prune only from
// here), drift fingerprints. Written atomically; a lock keeps two agents on one host from applying at once.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { z } from 'zod';
import { HostFiles } from '../host/files.js';
import type { Inventory } from '../providers/types.js';

export const AgentState = z.object({
  version: z.literal(1),
  site: z.string().optional(),
  /** The revision whose desired state was last applied completely. */
  appliedRevision: z.string().optional(),
  appliedAt: z.string().optional(),
  /** The newest revision seen and the reason it was refused, if it was. */
  refused: z.object({ revision: z.string(), reason: z.string(), at: z.string() }).optional(),
  inventory: z.record(z.string(), z.array(z.string())).default({}),
  /** Fingerprints of drift already reported, per component. */
  drift: z.record(z.string(), z.string()).default({}),
});
export type AgentState = z.infer<typeof AgentState>;

export const EMPTY_STATE: AgentState = { version: 1, inventory: {}, drift: {} };

export class StateError extends Error {
  readonly userMessage: string;
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'StateError';
    this.userMessage = message;
  }
}

export class LockedError extends StateError {
  constructor(dir: string, opts?: { cause?: unknown }) {
    super(`Another mirrornet agent is applying on this host (lock in ${dir}); nothing was changed. Try again when it is done.`, opts);
    this.name = 'LockedError';
  }
}

export class StateStore {
  private readonly files: HostFiles;
  constructor(readonly dir: string) {
    this.files = new HostFiles(dir);
  }

  async load(): Promise<AgentState> {
    let text: string;
    try {
      text = await readFile(join(this.dir, 'state.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY_STATE);
      throw new StateError(`The state file ${join(this.dir, 'state.json')} cannot be read.`, { cause: err });
    }
    try {
      return AgentState.parse(JSON.parse(text));
    } catch (cause) {
      // A corrupt state must not lose the inventory silently: keep the file for a human.
      throw new StateError(`The state file ${join(this.dir, 'state.json')} is corrupt; move it away to start with an empty inventory (mirrornet will then never prune what it created before).`, { cause });
    }
  }

  async save(state: AgentState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.files.writeAtomic('state.json', `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  /** Hold the state lock while `fn` runs. */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    await mkdir(this.dir, { recursive: true });
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.dir, { lockfilePath: join(this.dir, 'apply.lock'), stale: 30_000, update: 5_000, realpath: false });
    } catch (cause) {
      throw new LockedError(this.dir, { cause });
    }
    try {
      return await fn();
    } finally {
      await release().catch(() => undefined);
    }
  }
}

export function inventoryOf(state: AgentState): Inventory {
  return state.inventory as Inventory;
}
