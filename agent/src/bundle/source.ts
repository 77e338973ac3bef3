// The agent's side of a bundle: its site's manifest in a channel (`<channel>.<site>`), checked with one HEAD
// request per tick (or learnt from the site's gateway, feed.ts), and on a new revision its one layer — fetched
// through the region's registry mirror when there is one, so a region fetches it from its core once, like an
// image blob — checked against its digest; then the signature inside the layer checked against the allowed
// signers configured on the host (never anything from the bundle), and the agent's version, the site, the
// channel and the revision's order checked. No fleet-wide validation happens on the host: the publisher did it once.
import { z } from 'zod';
import { desiredForRoles } from '../desired/roles.js';
import type { Desired, Role } from '../desired/types.js';
import type { Exec } from '../host/exec.js';
import { valid as validVersion } from 'semver';
import { THIS_AGENT, tooOldFor, tooOldSentence } from '../model/compatibility.js';
import { BUNDLE_SCHEMA_VERSION, canonicalJson, MEDIA_TYPES, sha256, signedDigestOf, SITE_ARTIFACT_VERSION, siteTag } from './build.js';
import { OciClient, RegistryError, type OciTarget } from './oci.js';
import { verifyDigest } from './sign.js';
import { LayerHeadSchema, siteArtifactVersion, SiteLayerSchema, SiteManifestSchema, type LayerHead } from './schema.js';

/** A site's manifest as a host first sees it: which layer to fetch. */
export interface SiteHead {
  digest: string;
  manifest: Buffer;
}

/** Where a host learns its site's head from instead of asking the registry (its site's gateway). */
export interface HeadFeed {
  current(): Promise<SiteHead | undefined>;
}

/** Where a bundle revision came from: its order and its manifest. Kept with the applied state. */
export interface BundleOrigin {
  sequence: number;
  digest: string;
  /** A rollback's: the sequence it rolled back from. Until a revision beyond it, nothing up to it is taken again. */
  rollbackFrom?: number;
}

export type BundleLoad =
  | { refused: string }
  /** The bundle needs a newer agent (its minimum agent version or bundle schema): why, in words (model/compatibility.ts). */
  | { outdated: string }
  | {
      valid: true;
      desired: Desired;
      guardrails?: z.infer<typeof SiteLayerSchema>['guardrails'];
      notifications?: z.infer<typeof SiteLayerSchema>['notifications'];
      area?: z.infer<typeof SiteLayerSchema>['area'];
      origin: BundleOrigin;
    }
  | { valid: true; compileError: string; origin: BundleOrigin };

export interface BundleSourceOptions {
  /** The registry, repository and channel (its tag; default main). */
  target: OciTarget;
  site: string;
  allowedSigners: string;
  exec: Exec;
  /** A registry mirror (dfdaemon's proxy, `http://host:port`) that layers are fetched through. */
  mirror?: string;
  username?: string;
  password?: string;
  feed?: HeadFeed;
  timeoutMs?: number;
  /** Told each head whose layer's signature checked out (a gateway hands it on to its nodes at once). */
  onVerified?: (head: SiteHead) => void;
}

const MAX_LAYER_BYTES = 32 * 1024 * 1024;

/** What a head offers: its layer, its signature checked, or why it cannot be taken. */
interface Seen {
  head: SiteHead;
  /**
   * The revision the signed layer names; until the signature checked out, the manifest's digest (nothing the
   * bundle says is repeated, and a refusal holds for that manifest).
   */
  revision: string;
  layer?: { digest: string; json: Record<string, unknown>; head: LayerHead };
  problem?: { refused: string } | { outdated: string };
}

export class BundleSource {
  readonly client: OciClient;
  private seen: Seen | undefined;

  constructor(readonly opts: BundleSourceOptions) {
    this.client = new OciClient(opts.target, {
      access: 'pull',
      credentialFlags: '--registry-username and --registry-password REF',
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
  }

  get tag(): string {
    return siteTag(this.opts.target.tag ?? 'main', this.opts.site);
  }

  private where(): string {
    return `${this.opts.target.host}/${this.opts.target.repository}:${this.tag}`;
  }

  /** The head last seen (what a gateway hands its nodes once its layer's signature checked out). */
  latest(): SiteHead | undefined {
    return this.seen?.head;
  }

  /**
   * The revision the site's tag names now: one HEAD request when it did not move (or one question to the
   * gateway); when it moved, its manifest and its layer (the layer names the revision). A registry or mirror
   * that cannot serve them now fails the tick; bytes that are not the layer's are a refusal, kept for that head.
   */
  async remoteRevision(): Promise<string> {
    let head: SiteHead | undefined;
    try {
      head = this.opts.feed ? await this.opts.feed.current() : await this.registryHead();
    } catch (err) {
      // A gateway that does not answer: ask the registry, as a gateway would.
      if (!(this.opts.feed && err instanceof RegistryError && err.unreachable)) throw err;
    }
    // A gateway that has no head to hand out yet (just restarted, nothing new since) is no answer either.
    if (this.opts.feed && !head) head = await this.registryHead();
    if (!head) {
      throw new RegistryError(`There is no bundle for ${this.opts.site} at ${this.where()}: publish one (mirrornet publish), or check --source and --region.`);
    }
    if (head.digest === this.seen?.head.digest) return this.seen.revision;
    // The layer is found by the manifest's bytes: they must be the digest's (a gateway hands both over).
    if (sha256(head.manifest) !== head.digest) throw new RegistryError(`The manifest handed over as ${head.digest} has another digest: refused.`);
    this.seen = await this.read(head);
    return this.seen.revision;
  }

  /**
   * A new head: its format, then its layer, which must be the canonical JSON its signature covers, signed by
   * an allowed key. Until then the head is named by its manifest's digest only.
   */
  private async read(head: SiteHead): Promise<Seen> {
    const parsed = SiteManifestSchema.safeParse(parseJson(head.manifest));
    if (!parsed.success) throw new RegistryError(`${this.where()} (${head.digest}) is not a mirrornet site bundle: ${parsed.error.issues[0]?.message ?? ''}.`);
    const m = parsed.data;
    const unverified = (problem: NonNullable<Seen['problem']>): Seen => ({ head, revision: head.digest, problem });
    const version = siteArtifactVersion(m.artifactType);
    if (version < SITE_ARTIFACT_VERSION) {
      return unverified({
        refused:
          `the bundle ${head.digest} was published by an older mirrornet (site artifact v${version}; this agent reads v${SITE_ARTIFACT_VERSION}): ` +
          'publish the revision again with this version of mirrornet',
      });
    }
    if (version > SITE_ARTIFACT_VERSION) {
      // Neither readable nor verifiable here: what it claims (its revision) is not repeated.
      return unverified({
        outdated:
          `the bundle ${head.digest} is in a newer format (site artifact v${version}); ` +
          `this agent is ${THIS_AGENT.version} (reads v${SITE_ARTIFACT_VERSION})`,
      });
    }
    const layer = m.layers[0]!;
    if (m.layers.length !== 1 || layer.mediaType !== MEDIA_TYPES.site) {
      throw new RegistryError(`${this.where()} (${head.digest}) is not a mirrornet site bundle: it must hold one layer of ${MEDIA_TYPES.site}.`);
    }
    let bytes: Buffer;
    try {
      bytes = await this.fetchLayer(layer);
    } catch (err) {
      // Bytes that are not the layer's are refused; a registry that cannot serve it now fails the tick (a
      // refusal is kept for the head, so a passing 5xx would hold the host back until the next commit).
      if (err instanceof RegistryError && err.content) return unverified({ refused: err.userMessage });
      throw err;
    }
    const what = `the layer ${layer.digest} of ${this.opts.site}`;
    const json = parseJson(bytes);
    const named = LayerHeadSchema.safeParse(json);
    // The bytes applied are the bytes signed: a layer is its canonical JSON, nothing written another way.
    if (!named.success || canonicalJson(json) !== bytes.toString('utf8')) return unverified({ refused: `${what} is not a mirrornet site layer` });
    const layerJson = json as Record<string, unknown>;
    const why = await this.verify(layerJson, what);
    if (why) return unverified({ refused: why });
    this.opts.onVerified?.(head);
    return { head, revision: named.data.revision, layer: { digest: layer.digest, json: layerJson, head: named.data } };
  }

  /** The head from the registry: a HEAD request, and the manifest only when the tag moved. */
  private async registryHead(): Promise<SiteHead | undefined> {
    const digest = await this.client.manifestDigest(this.tag);
    if (digest && digest === this.seen?.head.digest) return this.seen.head;
    const got = digest ? await this.client.getManifest(digest) : undefined;
    return got ? { digest: got.digest, manifest: got.bytes } : undefined;
  }

  /** Take `revision` (the one remoteRevision returned, its signature checked) for this host's roles: what to apply, or why not. */
  async load(revision: string, ctx: { roles: Role[]; applied?: BundleOrigin; step<T>(name: string, fn: () => Promise<T>): Promise<T> }): Promise<BundleLoad> {
    const seen = this.seen;
    if (!seen || seen.revision !== revision)
      throw new RegistryError(`The bundle of ${revision.slice(0, 12)} is no longer at ${this.where()}; the next tick looks again.`);
    if (seen.problem) return seen.problem;
    // Its signature checked out when it was read (remoteRevision): what it says is believed from here on.
    const { digest, json, head } = seen.layer!;
    const short = revision.slice(0, 12);
    const agent = { version: THIS_AGENT.version, reads: BUNDLE_SCHEMA_VERSION };
    // A minimum that is no version at all is one this agent cannot judge: a newer one wrote it.
    const tooOld = tooOldFor(`the bundle of ${short}`, { minAgentVersion: validVersionOr(head.minAgentVersion), schemaVersion: head.schemaVersion }, agent);
    if (tooOld) return { outdated: tooOldSentence({ ...tooOld, minAgentVersion: head.minAgentVersion, format: 'bundle' }) };
    if (head.schemaVersion < BUNDLE_SCHEMA_VERSION) {
      return {
        refused:
          `the bundle of ${short} was published by an older mirrornet (bundle schema ${head.schemaVersion}; this agent reads ${BUNDLE_SCHEMA_VERSION}): ` +
          'publish the revision again with this version of mirrornet',
      };
    }
    const parsed = SiteLayerSchema.safeParse(json);
    if (!parsed.success) return { refused: `the layer ${digest} of ${short} is not ${this.opts.site}'s desired state` };
    const layer = parsed.data;
    if (layer.site !== this.opts.site) return { refused: `${this.where()} holds the bundle of ${layer.site}, not of ${this.opts.site}` };
    const channel = this.opts.target.tag ?? 'main';
    if (layer.channel !== channel) return { refused: `${this.where()} holds a bundle published for the channel ${layer.channel}, not ${channel}` };
    const origin: BundleOrigin = {
      sequence: layer.sequence,
      digest: seen.head.digest,
      ...(layer.rollbackFrom !== undefined ? { rollbackFrom: layer.rollbackFrom } : {}),
    };
    const out = ctx.applied ? outOfOrder(short, origin, ctx.applied) : undefined;
    if (out) return { refused: out };
    const { byRole, guardrails, notifications, area } = layer;
    const desired = desiredForRoles(this.opts.site, byRole as Parameters<typeof desiredForRoles>[1], ctx.roles);
    if ('error' in desired) return { valid: true, compileError: desired.error, origin };
    return {
      valid: true,
      desired,
      ...(guardrails ? { guardrails } : {}),
      ...(notifications ? { notifications } : {}),
      ...(area ? { area } : {}),
      origin,
    };
  }

  /**
   * The site's layer through the region's mirror; when the mirror does not answer or answers with an error (not
   * running yet on a new region, down, its upstream failing), from the registry itself — the fallback containerd
   * takes from a mirror to its server. Bytes from the mirror that are not the layer's are fetched from the
   * registry too: only the registry's own wrong bytes are a refusal.
   */
  private async fetchLayer(layer: { digest: string; size: number }): Promise<Buffer> {
    const max = Math.min(layer.size, MAX_LAYER_BYTES);
    if (this.opts.mirror) {
      try {
        return await this.client.getBlob(layer.digest, max, this.opts.mirror);
      } catch (err) {
        // Whatever went wrong at the mirror (down, an error, a corrupt cache entry), the registry decides.
        if (!(err instanceof RegistryError)) throw err;
      }
    }
    return this.client.getBlob(layer.digest, max);
  }

  /** The signature inside the layer, checked against the host's allowed signers; undefined when good, else why not. */
  private async verify(json: Record<string, unknown>, what: string): Promise<string | undefined> {
    if (typeof json['signature'] !== 'string') return `${what} is not signed: publish it with --sign-key (agents apply only signed bundles)`;
    const result = await verifyDigest(this.opts.exec, signedDigestOf(json), json['signature'], this.opts.allowedSigners, what);
    return result.ok ? undefined : result.reason;
  }
}

/**
 * Why a signed revision is out of order against what this host applied, or undefined. An older one is refused
 * unless it is a rollback from at least what was applied. After a rollback, nothing up to the revision it
 * rolled back from is taken again but another rollback from at least that far: neither that revision put back
 * under the tag nor an earlier bundle (a rollback from before it, or an old publish of the revision rolled
 * back to) can undo it. A rollback from the very same revision is taken again: the rollback it replays and the
 * one applied undo the same revision.
 */
function outOfOrder(short: string, origin: BundleOrigin, applied: BundleOrigin): string | undefined {
  const floor = Math.max(applied.sequence, applied.rollbackFrom ?? 0);
  if (origin.rollbackFrom !== undefined) {
    if (origin.rollbackFrom >= floor) return undefined;
    return (
      `${short} is a rollback from the revision of ${origin.rollbackFrom} commits, ` +
      `but this host is past the revision of ${floor} commits: a rollback is not taken again after the fleet moved on; ` +
      'publish a newer commit that reverts, or publish it again with --rollback'
    );
  }
  if (origin.sequence < applied.sequence) {
    return (
      `${short} is older than the revision applied here (${origin.sequence} commits against ${applied.sequence}); ` +
      'publish a newer commit that reverts, or publish it with --rollback on purpose'
    );
  }
  if (applied.rollbackFrom !== undefined && origin.sequence <= applied.rollbackFrom) {
    return (
      `${short} (${origin.sequence} commits) is at or before the revision this host was rolled back from (${applied.rollbackFrom} commits); ` +
      'publish a newer commit that reverts the rollback, or publish it with --rollback on purpose'
    );
  }
  return undefined;
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** `v` when it is a version this agent can compare with its own, else one no agent reaches. */
function validVersionOr(v: string): string {
  return validVersion(v) ? v : '999999.0.0';
}
