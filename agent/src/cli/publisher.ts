// The publisher role of an agent (one core's, the one that reaches the git host best): it follows the git
// repository and publishes each new valid revision as a signed bundle into its core's registry, from where the
// registry's replication and the regional mirrors carry it to every host. One run at a time; a revision that
// is refused (invalid, a guardrail, older than the channel's, needing a newer mirrornet) is reported once and not tried again.
import type { Logger } from 'pino';
import type { OciTarget } from '../bundle/oci.js';
import { userMessageOf } from '../errors.js';
import { agentEvent, type EventSink } from '../reconcile/events.js';
import { GitSource } from '../source/clone.js';
import { emergencyOf } from '../source/git.js';
import type { FleetAt, Published, PublishRequest } from './publish.js';
import { publishInChild, RevisionRefused } from './publish-run.js';
import type { RolloutDriver } from './rollout-driver.js';

export interface PublisherOptions {
  site: string;
  git: GitSource;
  target: OciTarget;
  signingKey: string;
  username?: string;
  password?: string;
  log: Logger;
  emit: EventSink;
  /** Rollout waves (policies/rollout.yaml): holds the site tags and moves them wave by wave. */
  rollout?: RolloutDriver;
  /** How a revision is published: in a short-lived child by default (publish-run.ts), so the agent stays small. */
  publish?: (req: PublishRequest) => Promise<Published>;
}

export class Publisher {
  private running: Promise<void> | undefined;
  private again = false;
  /** The revision published or refused last: not tried again. */
  private done: string | undefined;
  /** The fleet of the revision published last: the next one's removals are judged by it without validating it again. */
  private last: FleetAt | undefined;

  constructor(private readonly opts: PublisherOptions) {}

  /** Publish the branch's revision if it is new; a call while one runs is folded into one more run. */
  run(trigger: string): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.once(trigger).catch((err: unknown) => this.opts.log.error({ err: { message: userMessageOf(err) } }, 'publish failed'));
        // The rollout of the revision the channel holds goes on whatever this run published or refused.
        await this.opts.rollout?.tick().catch((err: unknown) => this.opts.log.error({ err: { message: userMessageOf(err) } }, 'rollout step failed'));
      } while (this.again);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private event(kind: 'revision-refused', revision: string, message: string): void {
    this.opts.log.warn({ event: kind, revision, reason: message }, 'revision not published');
    // As a revision event: the commit's status says it was not published, and why.
    this.opts.emit(agentEvent(kind, this.opts.site, revision, message, { component: 'publish' }));
  }

  private async once(trigger: string): Promise<Published | undefined> {
    const { git, log } = this.opts;
    // One request to the git host per run (a fetch); the revision is read from git's objects, no checkout.
    const revision = await git.fetchBranch();
    if (revision === this.done) return undefined;
    const unsigned = await git.verify(revision);
    if (unsigned) {
      this.done = revision;
      this.event('revision-refused', revision, `${revision.slice(0, 12)} was not published: ${unsigned}.`);
      return undefined;
    }
    try {
      const published = await (this.opts.publish ?? publishInChild)({
        repo: git.opts.dir,
        revision,
        target: this.opts.target,
        signingKey: this.opts.signingKey,
        unattended: true,
        credentialFlags: '--registry-username and --registry-password REF',
        ...(this.opts.username !== undefined ? { username: this.opts.username } : {}),
        ...(this.opts.password !== undefined ? { password: this.opts.password } : {}),
        ...(this.last ? { base: this.last } : {}),
        ...(this.opts.rollout ? { waves: true } : {}),
      });
      if (this.opts.rollout) {
        // A revision without policies/rollout.yaml had every tag moved: the driver stops.
        const emergency = published.rollout ? await emergencyOf(git.opts.dir, revision) : undefined;
        await this.opts.rollout.follow(revision, published.rollout, published.siteManifests, emergency);
      }
      this.done = revision;
      this.last = published.fleet;
      log.info({ trigger, revision, digest: published.digest, sites: published.sites.length, unchanged: published.unchanged }, 'bundle published');
      return published;
    } catch (err) {
      // A registry that fails is tried again next run; what is wrong with the revision itself is said once.
      if (!(err instanceof RevisionRefused)) throw err;
      this.done = revision;
      this.event('revision-refused', revision, err.userMessage);
      return undefined;
    }
  }
}
