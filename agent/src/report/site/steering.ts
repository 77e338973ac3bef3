// What the operators asked of each site of a core's area (suspend, resume, reconcile), kept by the core in its
// state directory (`steering.json`, written atomically, mode 0600) so a restarted core still holds a suspended
// site still and pushes the same Steering again. Every request bumps the site's generation: a gateway or node
// compares generations to know whether it has seen a request. A generation is at least the request's time in
// unix seconds, so a core that lost its file (an operator moved a corrupt one away) still hands out generations
// above every one it handed out before, and its sites' agents take them.
import { z } from 'zod';
import { MirrornetError } from '../../errors.js';
import { HostFiles } from '../../host/files.js';
import { NO_STEERING, Steering, type SteerRequest } from './schema.js';

const STEERING_FILE = 'steering.json';

const SteeringFile = z.object({ version: z.literal(1), sites: z.record(z.string(), Steering) });

class SteeringStoreError extends MirrornetError {}

/** The new Steering of each site a request changed, or why it changed nothing. */
export type SteerOutcome = { ok: true; sites: { site: string; steering: Steering }[] } | { ok: false; status: 404; reason: string };

/** A site's Steering after `action` by `by` at `nowMs`. */
function steered(current: Steering, request: SteerRequest, by: string, nowMs: number): Steering {
  const generation = Math.max(current.generation + 1, Math.floor(nowMs / 1000));
  const at = new Date(nowMs).toISOString();
  const { suspended, reconcile } = current;
  switch (request.action) {
    case 'suspend':
      return { generation, suspended: { by, reason: request.reason ?? '', at }, ...(reconcile ? { reconcile } : {}) };
    case 'resume':
      return { generation, ...(reconcile ? { reconcile } : {}) };
    case 'reconcile':
      return { generation, ...(suspended ? { suspended } : {}), reconcile: { generation, by, at } };
  }
}

export class SteeringStore {
  private readonly files: HostFiles;
  /** One change at a time: each waits for the write of the one before. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private sites: Record<string, Steering>,
  ) {
    this.files = new HostFiles(dir);
  }

  /** The store of `stateDir` as its file left it (none yet: nothing steered). */
  static async open(stateDir: string): Promise<SteeringStore> {
    const files = new HostFiles(stateDir);
    const text = await files.read(STEERING_FILE);
    if (text === undefined) return new SteeringStore(stateDir, {});
    try {
      return new SteeringStore(stateDir, SteeringFile.parse(JSON.parse(text)).sites);
    } catch (cause) {
      // Dropping it silently would resume every suspended site: a human decides.
      throw new SteeringStoreError(
        `The steering file ${files.path(STEERING_FILE)} is corrupt; fix it, or move it away to forget every suspension and reconcile request.`,
        { cause },
      );
    }
  }

  /** What the operators last asked of `site` (nothing: generation 0). */
  get(site: string): Steering {
    return this.sites[site] ?? NO_STEERING;
  }

  /** The sites anyone ever steered. */
  steeredSites(): string[] {
    return Object.keys(this.sites).sort();
  }

  /**
   * Apply an operator's request, signed by `principal`, to the site it names or (`all`) every one of `knownSites`,
   * persist the result, and answer the new Steering of each. A site the core does not know changes nothing.
   */
  apply(request: SteerRequest, principal: string, nowMs: number, knownSites: readonly string[]): Promise<SteerOutcome> {
    const next = this.queue.then(() => this.applyNow(request, principal, nowMs, [...new Set(knownSites)].sort()));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async applyNow(request: SteerRequest, principal: string, nowMs: number, known: string[]): Promise<SteerOutcome> {
    const targets = request.all ? known : known.filter((s) => s === request.site);
    if (!targets.length) {
      const sites = known.length ? `its sites: ${known.join(', ')}` : 'no site has reported to it yet';
      const what = request.all ? 'no site to steer' : `no site "${request.site}"`;
      return { ok: false, status: 404, reason: `This core knows ${what} (${sites}); nothing was changed.` };
    }
    const changed = targets.map((site) => ({ site, steering: steered(this.get(site), request, principal, nowMs) }));
    const sites = { ...this.sites, ...Object.fromEntries(changed.map((c) => [c.site, c.steering])) };
    await this.files.writeAtomic(STEERING_FILE, `${JSON.stringify({ version: 1, sites }, null, 2)}\n`, { mode: 0o600 });
    this.sites = sites;
    return { ok: true, sites: changed };
  }
}
