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
import { BUNDLE_SCHEMA_VERSION, MEDIA_TYPES, sha256, signedDigestOf, SITE_ARTIFACT_VERSION, siteTag } from './build.js';
import { OciClient, RegistryError, type OciTarget } from './oci.js';
import { verifyDigest } from './sign.js';
import { LayerHeadSchema, REVISION, siteArtifactVersion, SiteLayerSchema, SiteManifestSchema } from './schema.js';

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

/** What a head offers, as read before anything is believed: its layer, or why it cannot be taken. */
interface Seen {
  head: SiteHead;
  /** The revision the layer names (or, when none can be read, the manifest's digest, so a refusal holds for it). */
  revision: string;
  layer?: { digest: string; json: Record<string, unknown> };
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

  /** A new head: its format, and its layer when this agent reads that format. */
  private async read(head: SiteHead): Promise<Seen> {
    const parsed = SiteManifestSchema.safeParse(parseJson(head.manifest));
    if (!parsed.success) throw new RegistryError(`${this.where()} (${head.digest}) is not a mirrornet site bundle: ${parsed.error.issues[0]?.message ?? ''}.`);
    const m = parsed.data;
    const version = siteArtifactVersion(m.artifactType);
    if (version !== SITE_ARTIFACT_VERSION) {
      // Another format: its revision as its manifest names it (the older one did), else the manifest's digest.
      const named = m.annotations?.['org.opencontainers.image.revision'];
      const revision = named && REVISION.test(named) ? named : head.digest;
      const what = `the bundle of ${revision === head.digest ? head.digest : revision.slice(0, 12)}`;
      const problem =
        version < SITE_ARTIFACT_VERSION
          ? {
              refused:
                `${what} was published by an older mirrornet (site artifact v${version}; this agent reads v${SITE_ARTIFACT_VERSION}): ` +
                'publish the revision again with this version of mirrornet',
            }
          : { outdated: `${what} is in a newer format (site artifact v${version}); this agent is ${THIS_AGENT.version} (reads v${SITE_ARTIFACT_VERSION})` };
      return { head, revision, problem };
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
      if (err instanceof RegistryError && err.content) return { head, revision: head.digest, problem: { refused: err.userMessage } };
      throw err;
    }
    const json = parseJson(bytes);
    const named = LayerHeadSchema.safeParse(json);
    if (!named.success || !isRecord(json)) {
      return { head, revision: head.digest, problem: { refused: `the layer ${layer.digest} at ${this.where()} is not a mirrornet site layer` } };
    }
    return { head, revision: named.data.revision, layer: { digest: layer.digest, json } };
  }

  /** The head from the registry: a HEAD request, and the manifest only when the tag moved. */
  private async registryHead(): Promise<SiteHead | undefined> {
    const digest = await this.client.manifestDigest(this.tag);
    if (digest && digest === this.seen?.head.digest) return this.seen.head;
    const got = digest ? await this.client.getManifest(digest) : undefined;
    return got ? { digest: got.digest, manifest: got.bytes } : undefined;
  }

  /** Verify `revision` (the one remoteRevision returned) and take its layer for this host's roles; what to apply, or why not. */
  async load(revision: string, ctx: { roles: Role[]; applied?: BundleOrigin; step<T>(name: string, fn: () => Promise<T>): Promise<T> }): Promise<BundleLoad> {
    const seen = this.seen;
    if (!seen || seen.revision !== revision)
      throw new RegistryError(`The bundle of ${revision.slice(0, 12)} is no longer at ${this.where()}; the next tick looks again.`);
    if (seen.problem) return seen.problem;
    const { digest, json } = seen.layer!;
    // The signature first: nothing the layer says is believed (or repeated in a report) before it checked out.
    const why = await ctx.step('verify', () => this.verify(seen.head, digest, json));
    if (why) return { refused: why };
    const short = revision.slice(0, 12);
    const head = LayerHeadSchema.parse(json);
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
    const origin: BundleOrigin = { sequence: layer.sequence, digest: seen.head.digest };
    if (ctx.applied && origin.sequence < ctx.applied.sequence) {
      const from = layer.rollbackFrom;
      if (from === undefined) {
        return {
          refused:
            `${short} is older than the revision applied here (${origin.sequence} commits against ${ctx.applied.sequence}); ` +
            'publish a newer commit that reverts, or publish it with --rollback on purpose',
        };
      }
      // A rollback undoes the revision it was published against, never one published after it (a replayed rollback).
      if (from < ctx.applied.sequence) {
        return {
          refused:
            `${short} is a rollback from the revision of ${from} commits, ` +
            `but this host applied a later one (${ctx.applied.sequence} commits): a rollback is not taken again after the fleet moved on; ` +
            'publish a newer commit that reverts, or publish it again with --rollback',
        };
      }
    }
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
  private async verify(head: SiteHead, digest: string, json: Record<string, unknown>): Promise<string | undefined> {
    const what = `the layer ${digest} of ${this.opts.site}`;
    if (typeof json['signature'] !== 'string') {
      return `${what} is not signed: publish it with --sign-key (agents apply only signed bundles)`;
    }
    const result = await verifyDigest(this.opts.exec, signedDigestOf(json), json['signature'], this.opts.allowedSigners, what);
    if (!result.ok) return result.reason;
    this.opts.onVerified?.(head);
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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
