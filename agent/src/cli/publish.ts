// `mirrornet publish`: validate the fleet of one revision once, compile every site's desired state through
// the one pipeline, and push it as a signed OCI artifact (bundle/): one layer per site, the index as config,
// tagged with the commit and a channel; the SSH signature as a `sha256-<hex>.sig` artifact beside it.
import { buildBundle, MEDIA_TYPES, type Bundle } from '../bundle/build.js';
import { OciClient, parseOciReference, TAG } from '../bundle/oci.js';
import { signatureArtifact, signDigest } from '../bundle/sign.js';
import type { Desired } from '../desired/types.js';
import { MirrornetError } from '../errors.js';
import { localExec } from '../host/exec.js';
import { hostSecrets } from '../host/secrets.js';
import { formatText } from '../policy/format.js';
import { evaluateRepository, type Evaluation } from '../reconcile/pipeline.js';
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
  format: 'text' | 'json';
}

const DEFAULT_CHANNEL = 'main';

async function evaluate(repo: string, revision: string): Promise<Evaluation> {
  try {
    return await evaluateRepository({ repo, revision }, 'all');
  } catch (err) {
    if (err instanceof MirrornetError) throw new UserError(`--revision ${revision}: ${err.userMessage}`, 2, { cause: err });
    throw err;
  }
}

/** Every site's desired state, or exit 1 with the findings (invalid fleet) or the sites that do not compile. */
function desiredOf(evaluation: Evaluation, io: Io): Map<string, Desired> {
  const { report, revision } = evaluation;
  if (!report.valid) {
    io.stderr(formatText(report));
    throw new UserError(
      `The fleet at ${revision.slice(0, 12)} is invalid (${report.errors.length} errors, above); nothing was published. Fix it and try again.`,
    );
  }
  const out = new Map<string, Desired>();
  const failed: string[] = [];
  for (const [site, compiled] of evaluation.sites) {
    if ('error' in compiled) failed.push(`${site}: ${compiled.error}`);
    else out.set(site, compiled.desired);
  }
  if (failed.length) throw new UserError(`Some sites do not compile at ${revision.slice(0, 12)}; nothing was published:\n  ${failed.join('\n  ')}`);
  return out;
}

async function push(client: OciClient, bundle: Bundle, tags: string[], signature: string | undefined) {
  for (const [digest, bytes] of bundle.blobs) await client.pushBlob(digest, bytes);
  for (const tag of tags) await client.putManifest(tag, bundle.manifest, MEDIA_TYPES.manifest);
  if (signature === undefined) return undefined;
  const sig = signatureArtifact({ digest: bundle.manifestDigest, size: bundle.manifest.length }, signature);
  for (const [digest, bytes] of sig.blobs) await client.pushBlob(digest, bytes);
  await client.putManifest(sig.tag, sig.manifest, MEDIA_TYPES.manifest);
  return { tag: sig.tag, digest: sig.manifestDigest };
}

/** Exit 0 published, 1 invalid fleet or registry failure, 2 usage error. */
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

  const evaluation = await evaluate(opts.repo, opts.revision);
  const sites = desiredOf(evaluation, io);
  const revision = evaluation.revision;
  const channel = target.tag ?? DEFAULT_CHANNEL;
  if (!TAG.test(revision)) throw new UserError(`${revision} cannot be a tag.`, 2);
  const commitTime = (await git(opts.repo, ['show', '-s', '--format=%cI', revision])).trim();
  const guardrails = evaluation.report.fleet.policies.guardrails?.value ?? null;
  const bundle = buildBundle({ revision, commitTime, guardrails, sites });

  const secrets = hostSecrets();
  const signature = opts.signKey === undefined ? undefined : await signDigest(localExec(), bundle.manifestDigest, await secrets.resolve(opts.signKey));
  const client = new OciClient(target, {
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: await secrets.resolve(opts.password) } : {}),
  });
  const tags = [...new Set([revision, channel])];
  const signed = await push(client, bundle, tags, signature);

  const name = `${opts.to.split('://')[0]}://${target.host}/${target.repository}`;
  if (opts.format === 'json') {
    const out = { reference: `${name}@${bundle.manifestDigest}`, digest: bundle.manifestDigest, revision, tags, sites: [...sites.keys()].sort() };
    io.stdout(`${JSON.stringify({ ...out, signature: signed ?? null }, null, 2)}\n`);
  } else {
    io.stdout(`published ${name}@${bundle.manifestDigest} (${sites.size} sites, revision ${revision.slice(0, 12)})\n`);
    io.stdout(`tags: ${tags.join(', ')}\n`);
    io.stdout(signed ? `signature: ${name}:${signed.tag}\n` : '');
  }
  if (!signed) io.stderr('warning: the bundle is not signed (no --sign-key): agents that check signatures will refuse it.\n');
  return 0;
}
