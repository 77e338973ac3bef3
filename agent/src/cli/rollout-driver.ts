// The publisher's side of rollout waves (issue 14): after a revision is published with its site tags held, and
// on every tick, ask each core for its sites' health (GET /v1/status, signed with the publisher's operator key,
// through the operator commands' client), let the pure controller (report/rollout/decide.ts) decide, move the
// `<channel>.<site>` tags of the sites whose turn it is (each to its signed manifest, pushed with the bundle),
// keep the state in the state dir (a restart neither repeats an alert nor forgets a soak), tell chat, and write
// the state beside the bundles for `mirrornet rollout status`. Agents only follow their site's tag, as before.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { MEDIA_TYPES, siteTag } from '../bundle/build.js';
import { RegistryError, type OciClient } from '../bundle/oci.js';
import { writeRolloutStatus } from '../bundle/rollout-status.js';
import { messageOf } from '../errors.js';
import { HostFiles } from '../host/files.js';
import type { RolloutPlan } from '../model/rollout.js';
import { agentEvent, fingerprint, type EventSink } from '../reconcile/events.js';
import { decideRollout, healthOf, RolloutState, type SiteHealth } from '../report/rollout/decide.js';
import { FleetStatus } from '../report/site/schema.js';
import { askCores, type CoreFlags, type OperatorDeps } from './operator.js';
import { DEFAULT_CHANNEL } from './publish.js';

const STATE_FILE = 'rollout.json';
const Persisted = z.object({ state: RolloutState, manifests: z.record(z.string(), z.string()) });

export interface RolloutDriverOptions {
  /** The publisher's site (its events' site). */
  site: string;
  stateDir: string;
  /** The publisher's registry client; its target's tag is the channel. */
  client: OciClient;
  /** The cores to ask for their sites' health, and the publisher's operator key; without, no wave ever passes its soak. */
  cores?: CoreFlags;
  emit: EventSink;
  log: Logger;
  clock?: () => number;
  deps?: OperatorDeps;
}

export class RolloutDriver {
  private plan: RolloutPlan | undefined;
  private emergency: string | undefined;
  private revision: string | undefined;
  private persisted: z.infer<typeof Persisted> | undefined;
  private loaded = false;
  private warnedNoCores = false;
  /** The manifests of a revision whose rollout starts on the next tick. */
  private pendingManifests: Record<string, string> | undefined;
  /** The status in the registry is behind the state (a write failed). */
  private statusBehind = true;

  private readonly channel: string;

  constructor(private readonly o: RolloutDriverOptions) {
    this.channel = o.client.target.tag ?? DEFAULT_CHANNEL;
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    const text = await readFile(join(this.o.stateDir, STATE_FILE), 'utf8').catch(() => undefined);
    if (text === undefined) return;
    try {
      const parsed = Persisted.safeParse(JSON.parse(text));
      if (parsed.success) this.persisted = parsed.data;
      else this.o.log.warn({ file: STATE_FILE }, 'the rollout state cannot be read: the current revision starts its rollout over at wave 1');
    } catch {
      this.o.log.warn({ file: STATE_FILE }, 'the rollout state is not JSON: the current revision starts its rollout over at wave 1');
    }
  }

  /**
   * The revision the channel holds now, with its rollout plan (none: its fleet has no rollout policy, every tag
   * moved at publish) and its sites' manifest digests (a revision found in the channel already: rebuilt, the same bytes).
   */
  async follow(revision: string, plan: RolloutPlan | undefined, manifests: Record<string, string>, emergency: string | undefined): Promise<void> {
    await this.load();
    if (!plan) {
      this.plan = undefined;
      return;
    }
    this.plan = plan;
    this.revision = revision;
    this.emergency = emergency;
    if (this.persisted?.state.revision !== revision) {
      this.persisted = undefined;
      this.pendingManifests = manifests;
    }
  }

  /** Each site's health as the cores report it (sites of a core that does not answer are left out: not healthy, not failed). */
  private async health(): Promise<Map<string, SiteHealth>> {
    const out = new Map<string, SiteHealth>();
    if (!this.o.cores) {
      if (!this.warnedNoCores) this.o.log.error("policies/rollout.yaml needs the sites' health: give the publisher --rollout-core URL and --rollout-key");
      this.warnedNoCores = true;
      return out;
    }
    for (const answer of await askCores(this.o.cores, this.o.deps ?? {}, 'GET', '/v1/status')) {
      if ('error' in answer) {
        this.o.log.warn({ core: answer.core, reason: answer.error }, 'a core did not answer the rollout: its sites count as not healthy this tick');
        continue;
      }
      const parsed = answer.status === 200 ? FleetStatus.safeParse(answer.body) : undefined;
      if (!parsed?.success) {
        this.o.log.warn({ core: answer.core, status: answer.status }, 'a core did not answer with a fleet status');
        continue;
      }
      for (const site of parsed.data.sites) out.set(site.site, healthOf(site));
    }
    return out;
  }

  private async moveTags(sites: string[], manifests: Record<string, string>): Promise<void> {
    for (const site of sites) {
      const digest = manifests[site];
      const manifest = digest === undefined ? undefined : await this.o.client.getManifest(digest);
      if (!manifest) {
        throw new RegistryError(
          `The manifest of ${site} (${digest ?? 'unknown'}) is not in ${this.o.client.target.host}/${this.o.client.target.repository}: ` +
            'was the revision published by another version of mirrornet? Publish a new commit.',
        );
      }
      await this.o.client.putManifest(siteTag(this.channel, site), manifest.bytes, MEDIA_TYPES.manifest);
    }
  }

  /** One step: decide, move tags, persist, tell. A failure (a registry, a core) changes nothing and is tried again next tick. */
  async tick(): Promise<void> {
    await this.load();
    const { plan, revision } = this;
    if (!plan || revision === undefined) return;
    const manifests = this.persisted?.state.revision === revision ? this.persisted.manifests : (this.pendingManifests ?? {});
    const decision = decideRollout({
      policy: plan.policy,
      waves: plan.waves,
      areaOf: plan.areaOf,
      revision,
      ...(this.emergency ? { emergency: this.emergency } : {}),
      now: (this.o.clock ?? Date.now)(),
      health: await this.health(),
      ...(this.persisted ? { state: this.persisted.state } : {}),
    });
    try {
      await this.moveTags(decision.move, manifests);
    } catch (err) {
      this.o.log.error({ err: { message: messageOf(err) }, sites: decision.move }, 'rollout: moving the site tags failed; tried again next tick');
      return;
    }
    const changed = JSON.stringify({ ...decision.state, checkedAt: '' }) !== JSON.stringify({ ...this.persisted?.state, checkedAt: '' });
    this.persisted = { state: decision.state, manifests };
    this.pendingManifests = undefined;
    await new HostFiles(this.o.stateDir).writeAtomic(STATE_FILE, `${JSON.stringify(this.persisted)}\n`, { mode: 0o600 });
    for (const n of decision.notices) {
      this.o.log[n.kind === 'rollout-halted' ? 'error' : 'info']({ event: n.kind, revision }, n.message);
      this.o.emit(agentEvent(n.kind, this.o.site, revision, n.message, { component: 'publish', fingerprint: fingerprint([n.kind, revision, n.message]) }));
    }
    if (changed || this.statusBehind) {
      this.statusBehind = false;
      await writeRolloutStatus(this.o.client, this.channel, decision.state).catch((err: unknown) => {
        this.statusBehind = true;
        this.o.log.warn({ err: { message: messageOf(err) } }, 'rollout: the status for `mirrornet rollout status` was not written; tried again next tick');
      });
    }
  }
}
