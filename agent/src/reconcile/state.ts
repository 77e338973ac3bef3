// The agent's state directory: last applied revision, the inventory of what it created (prune only from
// here), drift fingerprints. Written atomically; a lock keeps two agents on one host from applying at once, and a
// second one (`repository`) from using the agent's clone at once while a new revision is fetched and validated.
import { MirrornetError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { describeFsError, HostFiles } from '../host/files.js';

export const AgentState = z.object({
  version: z.literal(1),
  site: z.string().optional(),
  /** The revision whose desired state was last applied completely. */
  appliedRevision: z.string().optional(),
  appliedAt: z.string().optional(),
  /** The newest revision seen and the reason it was refused, if it was. */
  /** `offer`: what exactly was refused when a source offers one revision in several forms (a bundle's manifest digest). */
  /**
   * `code`: agent-too-old when the revision needs a newer mirrornet (policies/agent.yaml, a bundle's minimum);
   * `agentVersion`: the mirrornet that refused it, since another version (an upgrade) looks at the revision again.
   */
  refused: z
    .object({
      revision: z.string(),
      reason: z.string(),
      at: z.string(),
      offer: z.string().optional(),
      code: z.enum(['agent-too-old']).optional(),
      agentVersion: z.string().optional(),
    })
    .optional(),
  inventory: z.record(z.string(), z.array(z.string())).default({}),
  /** Fingerprints of drift already reported, per component. */
  drift: z.record(z.string(), z.string()).default({}),
  /**
   * The site retired (`lifecycle: retiring`) at this revision with nothing but its uplink left in the inventory;
   * `uplinkRemoved` once its retired report was delivered and the uplink removed too: the agent only exits.
   */
  retired: z.object({ revision: z.string(), at: z.string(), uplinkRemoved: z.string().optional() }).optional(),
});
export type AgentState = z.infer<typeof AgentState>;

/** Why a revision was refused, when a program needs to tell (the dedicated outcome, exit code and status). */
export type RefusalCode = NonNullable<NonNullable<AgentState['refused']>['code']>;

export const EMPTY_STATE: AgentState = { version: 1, inventory: {}, drift: {} };

class StateError extends MirrornetError {}

/** `apply`: plan, guard, apply and record on the host; `repository`: fetch, check out and validate in the agent's clone. */
type LockName = 'apply' | 'repository';

export class LockedError extends StateError {
  constructor(dir: string, lock: LockName = 'apply') {
    super(
      lock === 'apply'
        ? `Another mirrornet agent is applying on this host (lock in ${dir}); nothing was changed. Try again when it is done.`
        : `Another mirrornet agent is fetching or validating a revision on this host (lock in ${dir}); nothing was changed. Try again when it is done.`,
    );
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
      throw (
        describeFsError('read', join(this.dir, 'state.json'), err) ??
        new StateError(`The state file ${join(this.dir, 'state.json')} cannot be read (${(err as Error).message}).`, { cause: err })
      );
    }
    try {
      return AgentState.parse(JSON.parse(text));
    } catch (cause) {
      // A corrupt state must not lose the inventory silently: keep the file for a human.
      throw new StateError(
        `The state file ${join(this.dir, 'state.json')} is corrupt; move it away to start with an empty inventory (mirrornet will then never prune ` +
          'what it created before).',
        { cause },
      );
    }
  }

  async save(state: AgentState): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw describeFsError('create the state directory', this.dir, err) ?? err;
    }
    await this.files.writeAtomic('state.json', `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  /**
   * Hold the state lock (`apply.lock`; `repo.lock` for the `repository` lock) while `fn` runs. The lock file
   * names its holder (pid and process start time), so a lock left by a killed agent is taken over at once
   * instead of blocking until a timeout; a live holder makes this wait up to `waitMs`, then fail with LockedError.
   */
  async withLock<T>(fn: () => Promise<T>, opts: { waitMs?: number; lock?: LockName } = {}): Promise<T> {
    const path = join(this.dir, opts.lock === 'repository' ? 'repo.lock' : 'apply.lock');
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      throw describeFsError('create the state directory', this.dir, err) ?? err;
    }
    const me = `${process.pid} ${processStart(process.pid) ?? ''}`.trim();
    const deadline = Date.now() + (opts.waitMs ?? 0);
    // The lock appears whole or not at all: written aside, then hard-linked into place (link fails if the
    // lock exists). A lock created empty and written after would look dead to another agent in between.
    const mine = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
    try {
      await writeFile(mine, me, { mode: 0o600 });
      for (;;) {
        try {
          await link(mine, path);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const holder = await readIfPresent(path);
        if (holder === undefined) continue; // released between our link and our read: try again at once
        if (!holderAlive(holder)) {
          await removeDeadLock(path, holder, mine);
          continue;
        }
        if (Date.now() >= deadline) throw new LockedError(this.dir, opts.lock);
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 50));
      }
    } catch (err) {
      if (err instanceof MirrornetError) throw err;
      throw describeFsError('create the lock', path, err) ?? new StateError(`Cannot create the lock ${path}.`, { cause: err });
    } finally {
      await rm(mine, { force: true });
    }
    try {
      return await fn();
    } finally {
      // Only the holder removes its own lock; nobody else touches a lock whose holder is alive.
      if ((await readIfPresent(path)) === me) await rm(path, { force: true });
    }
  }
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Remove a lock whose holder is dead, without ever removing a lock another contender has just taken: removal
 * happens only under a second, short-lived lock (`<lock>.takeover`, naming its holder like the lock does), after
 * reading the lock again under it. Two contenders that both judged the same holder dead cannot then remove each
 * other's fresh lock. A takeover lock whose holder is dead (killed in that instant) is cleared; its age is not
 * used, so a clock that steps at boot cannot make a live one look stale.
 */
async function removeDeadLock(path: string, deadHolder: string, mine: string): Promise<void> {
  const takeover = `${path}.takeover`;
  try {
    // Whole or not at all, like the lock: a takeover lock seen empty would look dead to another contender.
    await link(mine, takeover);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const holder = await readIfPresent(takeover);
    if (holder !== undefined && !holderAlive(holder) && (await readIfPresent(takeover)) === holder) await rm(takeover, { force: true });
    await new Promise((r) => setTimeout(r, 10));
    return;
  }
  try {
    if ((await readIfPresent(path)) === deadHolder) await rm(path, { force: true });
  } finally {
    await rm(takeover, { force: true });
  }
}

/** Start time of a process (clock ticks since boot, /proc/<pid>/stat field 22): tells a reused pid apart. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function holderAlive(holder: string): boolean {
  const [pidText, start] = holder.trim().split(' ');
  const pid = Number(pidText);
  if (!pid) return false; // empty or garbage: a writer died between create and write
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = processStart(pid);
  return !start || !now || start === now;
}
