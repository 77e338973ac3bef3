// `mirrornet publish` (and the publisher role of an agent): validate the fleet of one revision once, compile
// every site's desired state per role through the one pipeline, judge it against the revision the channel
// holds now (the fleet-wide removal guardrail, and no silent step back), and push it as a signed OCI artifact
// (bundle/): the bundle (one layer per site, each carrying its SSH signature, the index as config) tagged with
// the commit and the channel, and each site's minimal manifest tagged `<channel>.<site>`. Order matters for the
// agents that poll: every blob and manifest is stored by digest before a tag moves.
import pLimit from 'p-limit';
import { AgentTooOldError } from '../model/compatibility.js';
import { buildBundle, MEDIA_TYPES, sitePayloads, siteTag, type Bundle, type BundleInput, type SiteContent } from '../bundle/build.js';
import { channelHead, DEFAULT_CHANNEL } from '../bundle/channel.js';
import { OciClient, parseOciReference, TAG, type OciTarget } from '../bundle/oci.js';
import { signDigests } from '../bundle/sign.js';
import { MirrornetError } from '../errors.js';
import { localExec } from '../host/exec.js';
import { hostSecrets } from '../host/secrets.js';
import { rolloutPlan, type RolloutPlan } from '../model/rollout.js';
import type { Guardrails } from '../model/schema.js';
import { formatText } from '../policy/format.js';
import { fleetOutline, judgeRemovals, type FleetOutline } from '../reconcile/fleet-guard.js';
import { evaluateRepository, type Evaluation, type SiteSelection } from '../reconcile/pipeline.js';
import { isSecretReference } from '../redact.js';
import { git } from '../source/git.js';
import { UsageError, UserError } from './errors.js';
import type { Io } from './io.js';

export interface PublishOptions {
  repo: string;
  revision: string;
  to: string;
  signKey?: string;
  username?: string;
  password?: string;
  rollback?: boolean;
  format: 'text' | 'json';
}

/** Requests to the registry at once while pushing. */
const CONCURRENCY = 8;

export interface PublishRequest {
  repo: string;
  revision: string;
  target: OciTarget;
  /** The private key's contents (a resolved secret); unsigned without. */
  signingKey?: string;
  username?: string;
  password?: string;
  rollback?: boolean;
  /** How the user gives registry credentials here, for the sentences (the publisher role has its own flags). */
  credentialFlags?: string;
  /** The fleet of the revision the channel is expected to hold (the publisher's last): not validated again. */
  base?: FleetAt;
  /**
   * Published by a follower of the branch (the publisher role), not by a person: a revision that was published
   * before and that the channel was then rolled back from (`--rollback`) is not published again, or a restart
   * of the publisher would undo the rollback.
   */
  unattended?: boolean;
  /**
   * The caller drives the rollout (the publisher role): when the fleet has policies/rollout.yaml, no site's tag
   * moves here; cli/rollout-driver.ts moves them wave by wave. Without it every site's tag moves at once.
   */
  waves?: boolean;
}

/** A revision's fleet as the removal guardrail judges the next one by (the publisher keeps the last one it published). */
export interface FleetAt {
  revision: string;
  outline: FleetOutline;
  guardrails?: Guardrails;
}

function fleetAt(evaluation: Evaluation): FleetAt {
  const guardrails = evaluation.report.fleet.policies.guardrails?.value;
  return { revision: evaluation.revision, outline: fleetOutline(evaluation.report.fleet), ...(guardrails ? { guardrails } : {}) };
}

export interface Published {
  /** What the next revision's removals are judged by, without validating this one again. */
  fleet: FleetAt;
  revision: string;
  digest: string;
  tags: string[];
  sites: string[];
  signed: boolean;
  /** The channel already held this revision: nothing was pushed. */
  unchanged: boolean;
  /** Each site's manifest digest (empty when unchanged): what a wave's tag move points at. */
  siteManifests: Record<string, string>;
  /** The fleet's rollout (policies/rollout.yaml), when it has one. */
  rollout?: RolloutPlan;
  /** Whether the site tags were left to the rollout controller. */
  tagsHeld: boolean;
}

/** Why a revision is not published (invalid, does not compile, a guardrail, older than the channel's). */
export class PublishRefused extends UserError {
  constructor(
    message: string,
    readonly details = '',
  ) {
    super(message);
  }
}

/** One revision through the one pipeline: 'all' compiles every site per role (the bundle's layers); [] only validates. */
async function evaluate(repo: string, revision: string, select: 'all' | SiteSelection[]): Promise<Evaluation> {
  try {
    return await evaluateRepository({ repo, revision }, select);
  } catch (err) {
    // A revision that needs a newer mirrornet keeps its own error (exit 4, cli/main.ts).
    if (err instanceof MirrornetError && !(err instanceof AgentTooOldError))
      throw new UserError(`--revision ${revision}: ${err.userMessage}`, 2, { cause: err });
    throw err;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Every site's content, or the findings (invalid fleet) or the sites that do not compile. */
function contentOf(evaluation: Evaluation): Map<string, SiteContent> {
  const { report, revision } = evaluation;
  if (!report.valid) {
    // The first findings in the sentence itself: the publisher's event (chat, logs) is all its reader sees.
    const first = report.errors
      .slice(0, 3)
      .map((e) => `${e.file}:${e.line} ${e.rule}`)
      .join('; ');
    const more = report.errors.length > 3 ? `; ${report.errors.length - 3} more` : '';
    throw new PublishRefused(
      `The fleet at ${revision.slice(0, 12)} is invalid (${plural(report.errors.length, 'error')}: ${first}${more}); nothing was published. ` +
        'Fix it and try again.',
      formatText(report),
    );
  }
  const out = new Map<string, SiteContent>();
  const failed: string[] = [];
  const notifications = report.fleet.policies.notifications?.value;
  for (const [site, compiled] of evaluation.sites) {
    if ('error' in compiled) {
      failed.push(`${site}: ${compiled.error}`);
      continue;
    }
    const area = report.fleet.sites.get(site)?.value.area;
    out.set(site, { byRole: compiled.byRole, ...(notifications ? { notifications } : {}), ...(area ? { area } : {}) });
  }
  if (failed.length) throw new PublishRefused(`Some sites do not compile at ${revision.slice(0, 12)}; nothing was published:\n  ${failed.join('\n  ')}`);
  return out;
}

/** The fleet-wide removal guardrail against what the channel holds (when the repository has that revision). */
async function judgeAgainst(repo: string, base: string, evaluation: Evaluation, known?: FleetAt): Promise<void> {
  let at = known?.revision === base ? known : undefined;
  if (!at) {
    const exists = await git(repo, ['cat-file', '-e', `${base}^{commit}`]).then(
      () => true,
      () => false,
    );
    if (!exists) return;
    const before = await evaluate(repo, base, []);
    if (!before.report.valid) return;
    at = fleetAt(before);
  }
  const judgement = judgeRemovals(at.outline, fleetOutline(evaluation.report.fleet), at.guardrails);
  // A site deleted without retiring first (a push that skipped the pull request's `validate --base`) is refused as well.
  const unretired = judgement.unretired.map(
    (site) =>
      `It deletes ${site}, which was not retiring at ${base.slice(0, 12)}: ` +
      'mark it `lifecycle: retiring` first and delete it once its agents reported retired.',
  );
  if (judgement.trips.length || unretired.length) {
    throw new PublishRefused(
      `${evaluation.revision.slice(0, 12)} was not published: against ${base.slice(0, 12)}, which the channel holds: ` +
        [...judgement.trips.map((t) => t.message), ...unretired].join(' '),
    );
  }
}

async function pushBundle(client: OciClient, bundle: Bundle, channel: string, tagSites: boolean): Promise<string[]> {
  const limit = pLimit(CONCURRENCY);
  await Promise.all([...bundle.blobs].map(([digest, bytes]) => limit(() => client.pushBlob(digest, bytes))));
  const manifests = [
    { manifest: bundle.manifest, digest: bundle.manifestDigest, tags: [bundle.index.revision, channel] },
    ...[...bundle.siteManifests].map(([site, m]) => ({ ...m, tags: [siteTag(channel, site)] })),
  ];
  // Stored by digest first: the rollout controller moves a site's tag to its manifest later.
  await Promise.all(manifests.map((m) => limit(() => client.putManifest(m.digest, m.manifest, MEDIA_TYPES.manifest))));
  // The sites' tags before the channel's: a reader of the channel finds every site there.
  if (tagSites) await Promise.all(manifests.slice(1).map((m) => limit(() => client.putManifest(m.tags[0]!, m.manifest, MEDIA_TYPES.manifest))));
  for (const tag of [...new Set(manifests[0]!.tags)]) await client.putManifest(tag, bundle.manifest, MEDIA_TYPES.manifest);
  return [...new Set(manifests[0]!.tags)];
}

/** Each site's manifest digest in a bundle. */
function digestsOf(bundle: Bundle): Record<string, string> {
  return Object.fromEntries([...bundle.siteManifests].map(([site, m]) => [site, m.digest]));
}

/** Validate, judge, build, sign and push one revision. */
export async function publishRevision(req: PublishRequest): Promise<Published> {
  const evaluation = await evaluate(req.repo, req.revision, 'all');
  const sites = contentOf(evaluation);
  const revision = evaluation.revision;
  if (!TAG.test(revision)) throw new UserError(`${revision} cannot be a tag.`, 2);
  const channel = req.target.tag ?? DEFAULT_CHANNEL;
  const client = new OciClient(req.target, {
    ...(req.username !== undefined ? { username: req.username } : {}),
    ...(req.password !== undefined ? { password: req.password } : {}),
    ...(req.credentialFlags !== undefined ? { credentialFlags: req.credentialFlags } : {}),
  });
  const sequence = Number((await git(req.repo, ['rev-list', '--count', revision])).trim());
  const head = await channelHead(client, channel);
  const names = [...sites.keys()].sort();
  const rollout = req.waves ? rolloutPlan(evaluation.report.fleet) : undefined;
  const held = { tagsHeld: rollout !== undefined, ...(rollout ? { rollout } : {}) };
  // The channel holds it already: nothing to do, unless it was published unsigned and a key is given now.
  const toSign = head?.revision === revision && req.signingKey !== undefined && !head.signed;
  const commitTime = (await git(req.repo, ['show', '-s', '--format=%cI', revision])).trim();
  const guardrails = evaluation.report.fleet.policies.guardrails?.value ?? null;
  // The oldest agent that may apply it is the repository's to say (policies/agent.yaml), not this publisher's version.
  const minAgentVersion = evaluation.report.fleet.policies.compatibility?.value.minAgentVersion;
  if (head?.revision === revision && !toSign) {
    // The rollout controller finds each site's manifest by its digest, as the channel's index names the layers.
    const siteManifests = rollout ? head.siteManifests : {};
    return { fleet: fleetAt(evaluation), revision, digest: head.digest, tags: [], sites: names, signed: false, unchanged: true, siteManifests, ...held };
  }
  if (head && head.sequence > sequence && !req.rollback) {
    throw new PublishRefused(
      `${revision.slice(0, 12)} is older than ${head.revision.slice(0, 12)}, which ${channel} holds ` +
        `(${plural(sequence, 'commit')} against ${head.sequence}); nothing was published. ` +
        'Publish a newer commit that reverts, or publish it again with --rollback on purpose.',
    );
  }
  // The bundle is tagged with its commit: that tag is there when the revision was published before.
  if (head?.rollback && head.revision !== revision && req.unattended && (await client.manifestDigest(revision)) !== undefined) {
    throw new PublishRefused(
      `${revision.slice(0, 12)} was published before, and ${channel} was rolled back from it to ${head.revision.slice(0, 12)} on purpose (--rollback): ` +
        'it is not published again. The next commit is published as usual; ' +
        `\`mirrornet publish --revision ${revision.slice(0, 12)} --rollback\` publishes this one again by hand.`,
    );
  }
  // Agents that took the rollback refuse anything up to the revision it rolled back from but another rollback (or
  // the rollback itself, signed now).
  const rolledBackFrom = head?.rollback ? head.rollbackFrom : undefined;
  if (head && rolledBackFrom !== undefined && head.revision !== revision && sequence <= rolledBackFrom && !req.rollback) {
    throw new PublishRefused(
      `${revision.slice(0, 12)} (${plural(sequence, 'commit')}) is at or before the revision ${channel} was rolled back from ` +
        `(${rolledBackFrom} commits), so agents would refuse it; nothing was published. ` +
        'Publish a newer commit that reverts the rollback, or publish it with --rollback on purpose.',
    );
  }
  if (head) await judgeAgainst(req.repo, head.revision, evaluation, req.base);
  // A rollback names the newest revision it rolls back from (the channel's, or what the channel's own rollback
  // rolled back from): an agent that applied anything later refuses it, so it cannot be replayed once the fleet moved on.
  // Signing the channel's unsigned revision again keeps it what it was (a rollback stays one).
  const rollbackFrom = req.rollback
    ? Math.max(head?.rollbackFrom ?? 0, head?.sequence ?? 0, sequence)
    : toSign && head?.rollback
      ? head.rollbackFrom
      : undefined;
  const input: BundleInput = {
    revision,
    commitTime,
    sequence,
    ...(rollbackFrom !== undefined ? { rollbackFrom } : {}),
    channel,
    guardrails,
    sites,
    ...(minAgentVersion ? { minAgentVersion } : {}),
  };
  for (const site of names) {
    const tag = siteTag(channel, site);
    if (!TAG.test(tag)) throw new PublishRefused(`The tag ${tag} (channel ${channel}, site ${site}) is longer than a tag may be: use a shorter channel.`);
  }
  // Every site's payload signed in one ssh-keygen run; the signatures go into the layers.
  const payloads = sitePayloads(input);
  const digests = [...payloads.values()].map((p) => p.digest);
  const signatures = req.signingKey === undefined ? undefined : await signDigests(localExec(), digests, req.signingKey);
  const bundle = buildBundle(input, signatures, payloads);
  const tags = await pushBundle(client, bundle, channel, !rollout);
  const siteManifests = digestsOf(bundle);
  return {
    fleet: fleetAt(evaluation),
    revision,
    digest: bundle.manifestDigest,
    tags,
    sites: names,
    signed: signatures !== undefined,
    unchanged: false,
    siteManifests,
    ...held,
  };
}

/** Exit 0 published, 1 invalid fleet, refused or registry failure, 2 usage error. */
export async function publishCommand(opts: PublishOptions, io: Io): Promise<number> {
  const target = parseOciReference(opts.to);
  if ('error' in target) throw new UsageError(`--to: ${target.error}.`);
  for (const [flag, ref] of [
    ['--sign-key', opts.signKey],
    ['--password', opts.password],
  ] as const) {
    if (ref !== undefined && !isSecretReference(ref))
      throw new UsageError(`${flag} takes a secret reference (env:NAME or file:/absolute/path); the value given is not repeated here.`);
  }
  if ((opts.username === undefined) !== (opts.password === undefined)) throw new UsageError('--username and --password go together.');
  const secrets = hostSecrets();
  let published: Published;
  try {
    published = await publishRevision({
      repo: opts.repo,
      revision: opts.revision,
      target,
      ...(opts.signKey !== undefined ? { signingKey: await secrets.resolve(opts.signKey) } : {}),
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: await secrets.resolve(opts.password) } : {}),
      ...(opts.rollback ? { rollback: true } : {}),
    });
  } catch (err) {
    if (err instanceof PublishRefused && err.details) io.stderr(err.details);
    throw err;
  }
  const name = `${opts.to.split('://')[0]}://${target.host}/${target.repository}`;
  const { revision, digest, tags, sites } = published;
  if (opts.format === 'json') {
    const { fleet: _fleet, rollout: _rollout, tagsHeld: _held, siteManifests: _digests, ...shown } = published;
    io.stdout(`${JSON.stringify({ reference: `${name}@${digest}`, ...shown }, null, 2)}\n`);
  } else if (published.unchanged) {
    io.stdout(`${name}:${target.tag ?? DEFAULT_CHANNEL} already holds ${revision.slice(0, 12)}: nothing to publish\n`);
  } else {
    io.stdout(`published ${name}@${digest} (${sites.length} sites, revision ${revision.slice(0, 12)})\n`);
    io.stdout(`tags: ${tags.join(', ')} and ${sites.length} site tags (${target.tag ?? DEFAULT_CHANNEL}.<site>)\n`);
    io.stdout(published.signed ? `signed: each site's layer carries its signature\n` : '');
  }
  if (!published.signed && !published.unchanged) io.stderr('warning: the bundle is not signed (no --sign-key): agents refuse unsigned bundles.\n');
  return 0;
}
