// The publisher's side of rollout waves (issue 14): after a revision is published with its site tags held, and
// on every tick, ask each core for its sites' health (GET /v1/status, signed with the publisher's operator key,
// through the operator commands' client), let the pure controller (report/rollout/decide.ts) decide, move the
// `<channel>.<site>` tags of the sites whose turn it is (each to its signed manifest, pushed with the bundle),
// keep the state in the state dir (a restart neither repeats an alert nor forgets a soak), tell chat, and write
// the state beside the bundles for `mirrornet rollout status`. Agents only follow their site's tag, as before.
// rollout.json holds the plan and the emergency mark too, so a restarted publisher goes on with the rollout the
// channel holds even when it publishes nothing; notices are kept there until they are sent (none lost, none
// sent twice by a failed write). Each tick reads the channel's head: another revision there supersedes the rollout.
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
import { RolloutPolicy } from '../model/schema-rollout.js';
import { agentEvent, fingerprint, type EventSink } from '../reconcile/events.js';
import { decideRollout, healthOf, RolloutState, type RolloutNotice, type SiteHealth } from '../report/rollout/decide.js';
import { FleetStatus } from '../report/site/schema.js';
import { askCores, type CoreFlags, type OperatorDeps } from './operator.js';
import { channelHead, DEFAULT_CHANNEL } from '../bundle/channel.js';

const STATE_FILE = 'rollout.json';
const Plan = z.object({
  policy: RolloutPolicy,
  waves: z.array(z.object({ name: z.string(), sites: z.array(z.string()) })),
  areaOf: z.record(z.string(), z.string()),
});
const Notice = z.object({ kind: z.enum(['rollout-advanced', 'rollout-halted', 'rollout-complete', 'rollout-superseded']), message: z.string() });
const Persisted = z.object({
  state: RolloutState,
  manifests: z.record(z.string(), z.string()),
  /** The plan and emergency mark of the state's revision: a restart resumes from them (absent in files of older versions). */
  plan: Plan.optional(),
  emergency: z.string().max(1024).optional(),
  /** Notices decided and not sent yet. */
  unsent: z.array(Notice).default([]),
});
type Persisted = z.infer<typeof Persisted>;

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
  /** The channel's tag as last read: its manifest digest and the revision its index names. */
  private channelSeen: { digest: string; revision?: string } | undefined;
  private warnedNoCores = false;
  /** The manifests of a revision whose rollout starts on the next tick. */
  private pendingManifests: Record<string, string> | undefined;
  /** The rollout's revision published again in another form (signed now, or by a newer mirrornet): its manifests. */
  private republished: Record<string, string> | undefined;
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
      if (parsed.success) {
        this.persisted = parsed.data;
        // Resume the rollout the state holds: the channel's revision may never be published again by this process.
        const { plan, state, emergency } = parsed.data;
        if (plan && this.plan === undefined) {
          this.plan = plan;
          this.revision = state.revision;
          this.emergency = emergency;
        }
      } else this.o.log.warn({ file: STATE_FILE }, 'the rollout state cannot be read: the current revision starts its rollout over at wave 1');
    } catch {
      this.o.log.warn({ file: STATE_FILE }, 'the rollout state is not JSON: the current revision starts its rollout over at wave 1');
    }
  }

  /**
   * The revision the channel holds now, with its rollout plan (none: its fleet has no rollout policy, every tag
   * moved at publish) and its sites' manifest digests (a revision found in the channel already: read from its index).
   */
  async follow(revision: string, plan: RolloutPlan | undefined, manifests: Record<string, string>, emergency: string | undefined): Promise<void> {
    await this.load();
    if (!plan) {
      this.plan = undefined;
      await this.dropped(revision);
      return;
    }
    this.plan = plan;
    this.revision = revision;
    this.emergency = emergency;
    if (this.persisted?.state.revision !== revision) {
      this.persisted = undefined;
      this.pendingManifests = manifests;
    } else if (Object.keys(manifests).length && Object.entries(manifests).some(([site, digest]) => this.persisted!.manifests[site] !== digest)) {
      this.republished = manifests;
    }
  }

  /**
   * The rollout's revision was published again as other manifests: the sites whose tags it moved already move to
   * the new ones (the old may be of a format agents refuse), and the waves to come take the new ones.
   */
  private async repoint(persisted: Persisted, manifests: Record<string, string>): Promise<Persisted> {
    const moved: string[] = [];
    for (const [site, digest] of Object.entries(persisted.manifests)) {
      if ((await this.o.client.manifestDigest(siteTag(this.channel, site))) === digest) moved.push(site);
    }
    await this.moveTags(moved, manifests);
    const next = { ...persisted, manifests };
    await this.save(next);
    this.o.log.info({ sites: moved }, 'rollout: the revision was published again; the site tags it moved follow the new manifests');
    return next;
  }

  /** The revision went out without a rollout policy (every tag moved): the rollout still in the state ends superseded, said in its status. */
  private async dropped(revision: string): Promise<void> {
    const old = this.persisted;
    if (!old || old.state.completeAt || old.state.superseded || old.state.revision === revision) return;
    const at = new Date((this.o.clock ?? Date.now)()).toISOString();
    const state = {
      ...old.state,
      checkedAt: at,
      superseded: { by: revision, reason: `${revision.slice(0, 12)} has no policies/rollout.yaml: every site's tag moved when it was published`, at },
    };
    await this.save({ ...old, state });
    await this.writeStatus(state);
  }

  /** Write `next` to rollout.json; only then does it become the state in memory. */
  private async save(next: Persisted): Promise<void> {
    await new HostFiles(this.o.stateDir).writeAtomic(STATE_FILE, `${JSON.stringify(next)}\n`, { mode: 0o600 });
    this.persisted = next;
  }

  private async writeStatus(state: RolloutState): Promise<void> {
    this.statusBehind = false;
    await writeRolloutStatus(this.o.client, this.channel, state).catch((err: unknown) => {
      this.statusBehind = true;
      this.o.log.warn({ err: { message: messageOf(err) } }, 'rollout: the status for `mirrornet rollout status` was not written; tried again next tick');
    });
  }

  /** Send the notices the file holds as unsent, then mark them sent. */
  private async flush(revision: string): Promise<void> {
    const p = this.persisted;
    if (!p?.unsent.length) return;
    for (const n of p.unsent) this.tell(n, revision);
    await this.save({ ...p, unsent: [] }).catch((err: unknown) =>
      this.o.log.warn({ err: { message: messageOf(err) } }, 'rollout: the sent notices were not marked in rollout.json'),
    );
  }

  private tell(n: RolloutNotice, revision: string): void {
    this.o.log[n.kind === 'rollout-halted' ? 'error' : 'info']({ event: n.kind, revision }, n.message);
    this.o.emit(agentEvent(n.kind, this.o.site, revision, n.message, { component: 'publish', fingerprint: fingerprint([n.kind, revision, n.message]) }));
  }

  /**
   * Each site's health as the cores report it (sites of a core that does not answer are left out: not healthy,
   * not failed); `manifests`: each site's manifest of `revision`, by which a host names a refusal it could not verify.
   */
  private async health(revision: string, manifests: Record<string, string>): Promise<Map<string, SiteHealth>> {
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
      for (const site of parsed.data.sites) {
        const digest = manifests[site.site];
        out.set(site.site, healthOf(site, digest ? { digest, revision } : undefined));
      }
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

  /**
   * The revision the channel holds: one HEAD of its tag per tick, and its index (as large as the fleet) read
   * only when the tag moved.
   */
  private async channelRevision(): Promise<string | undefined> {
    const digest = await this.o.client.manifestDigest(this.channel);
    if (digest === undefined) return undefined;
    if (this.channelSeen?.digest !== digest) {
      const head = await channelHead(this.o.client, this.channel);
      this.channelSeen = { digest, ...(head ? { revision: head.revision } : {}) };
    }
    return this.channelSeen.revision;
  }

  /** One step: decide, move tags, persist, tell. A failure (a registry, a core) changes nothing and is tried again next tick. */
  async tick(): Promise<void> {
    await this.load();
    const { plan, revision } = this;
    if (!plan || revision === undefined) return;
    // Notices of an earlier step that were not sent (a crash after the write) go first.
    if (this.persisted?.state.revision === revision) await this.flush(revision);
    if (this.republished && this.persisted?.state.revision === revision) {
      try {
        this.persisted = await this.repoint(this.persisted, this.republished);
        this.republished = undefined;
      } catch (err) {
        this.o.log.error({ err: { message: messageOf(err) } }, 'rollout: moving the site tags to the republished revision failed; tried again next tick');
        return;
      }
    }
    const manifests = this.persisted?.state.revision === revision ? this.persisted.manifests : (this.pendingManifests ?? {});
    // What the channel holds now: another revision (a rollback, a publish by hand) supersedes this rollout.
    const head = await this.channelRevision();
    const decision = decideRollout({
      policy: plan.policy,
      waves: plan.waves,
      areaOf: plan.areaOf,
      revision,
      ...(this.emergency ? { emergency: this.emergency } : {}),
      now: (this.o.clock ?? Date.now)(),
      health: await this.health(revision, manifests),
      ...(this.persisted ? { state: this.persisted.state } : {}),
      ...(head ? { channelRevision: head } : {}),
    });
    try {
      await this.moveTags(decision.move, manifests);
    } catch (err) {
      this.o.log.error({ err: { message: messageOf(err) }, sites: decision.move }, 'rollout: moving the site tags failed; tried again next tick');
      return;
    }
    const changed = JSON.stringify({ ...decision.state, checkedAt: '' }) !== JSON.stringify({ ...this.persisted?.state, checkedAt: '' });
    // The file first, with the notices as unsent: a failed write leaves memory as it was (the step is decided
    // again next tick), a crash before they are sent sends them at the next start.
    await this.save({
      state: decision.state,
      manifests,
      plan,
      ...(this.emergency ? { emergency: this.emergency } : {}),
      unsent: decision.notices,
    });
    this.pendingManifests = undefined;
    await this.flush(revision);
    if (changed || this.statusBehind) await this.writeStatus(decision.state);
  }
}
