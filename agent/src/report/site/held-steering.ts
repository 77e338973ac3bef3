// What the operators asked of this agent's site, as this agent holds it: the Steering its parent pushed or
// answered with last (`<state-dir>/held-steering.json`, so a restart keeps a suspension). A newer generation
// replaces an older one; a reconcile request of a generation not run yet runs once.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostFiles } from '../../host/files.js';
import { NO_STEERING, Steering } from './schema.js';

const FILE = 'held-steering.json';

/** What taking a Steering changed: nothing, the suspension, and/or a reconcile to run now. */
export interface SteeringChange {
  changed: boolean;
  suspendedChanged: boolean;
  reconcileNow: boolean;
}

export class HeldSteering {
  private current: Steering;
  /** The reconcile generation run last (kept with the Steering). */
  private reconciled: number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly stateDir: string) {
    const saved = readSaved(join(stateDir, FILE));
    this.current = saved?.steering ?? NO_STEERING;
    this.reconciled = saved?.reconciled ?? this.current.reconcile?.generation ?? 0;
  }

  get steering(): Steering {
    return this.current;
  }

  suspended(): boolean {
    return this.current.suspended !== undefined;
  }

  /** Take `next` if it is newer than what is held; say what changed. A reconcile request is marked run. */
  offer(next: Steering): Promise<SteeringChange> {
    // One at a time: two pushes close together are taken in order, and each is saved before the next is looked at.
    const taken = this.queue.then(() => this.take(next));
    this.queue = taken.catch(() => undefined);
    return taken;
  }

  private async take(next: Steering): Promise<SteeringChange> {
    if (next.generation <= this.current.generation) return { changed: false, suspendedChanged: false, reconcileNow: false };
    const suspendedChanged = (next.suspended === undefined) !== (this.current.suspended === undefined);
    const reconcileNow = (next.reconcile?.generation ?? 0) > this.reconciled;
    this.current = next;
    if (reconcileNow) this.reconciled = next.reconcile!.generation;
    try {
      await new HostFiles(this.stateDir).writeAtomic(FILE, `${JSON.stringify({ steering: this.current, reconciled: this.reconciled })}\n`, { mode: 0o600 });
    } catch {
      // Held in memory all the same (the agent acts on it now); the parent's next answer repeats it after a restart.
    }
    return { changed: true, suspendedChanged, reconcileNow };
  }
}

function readSaved(path: string): { steering: Steering; reconciled: number } | undefined {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as { steering?: unknown; reconciled?: unknown };
    const steering = Steering.safeParse(data.steering);
    if (!steering.success) return undefined;
    return { steering: steering.data, reconciled: typeof data.reconciled === 'number' ? data.reconciled : 0 };
  } catch {
    return undefined;
  }
}
