// The agent's side of a bundle: its site's manifest in a channel (`<channel>.<site>`), checked with one HEAD
// request per tick (or learnt from the site's gateway, feed.ts), and on a new revision: the signature checked
// against the allowed signers configured on the host (never anything from the bundle), the agent's version
// and the revision's order checked, and only the site's own layer fetched — through the region's registry
// mirror when there is one, so a region fetches it from its core once, like an image blob — and checked
// against its digest. No fleet-wide validation happens on the host: the publisher did it once.
import { z } from 'zod';
import { desiredForRoles } from '../desired/roles.js';
import type { Desired, Role } from '../desired/types.js';
import type { Exec } from '../host/exec.js';
import { valid as validVersion } from 'semver';
import { THIS_AGENT, tooOldFor, tooOldSentence } from '../model/compatibility.js';
import { ANNOTATIONS, BUNDLE_SCHEMA_VERSION, sha256, siteTag } from './build.js';
import { OciClient, RegistryError, type OciTarget } from './oci.js';
import { SIGNATURE_LAYER_MEDIA_TYPE, signatureTag, verifyDigest } from './sign.js';
import { SiteLayerSchema, SiteManifestSchema } from './schema.js';

/** A site's manifest as a host first sees it: enough to decide, before any layer is fetched. */
export interface SiteHead {
  digest: string;
  manifest: Buffer;
  /** The armored SSH signature of `digest`, when the one who handed the head over had it (a gateway does). */
  signature?: string;
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
  /** Told each head whose signature checked out, before its layer is fetched (a gateway hands it on at once). */
  onVerified?: (head: SiteHead) => void;
}

const MAX_LAYER_BYTES = 32 * 1024 * 1024;
const MAX_SIGNATURE_BYTES = 64 * 1024;

interface Seen {
  head: SiteHead;
  revision: string;
  annotations: Record<string, string>;
  layer: { digest: string; size: number };
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

  /** The head last seen, with its signature once it was checked (what a gateway hands its nodes). */
  latest(): SiteHead | undefined {
    return this.seen?.head;
  }

  /** The revision the site's tag names now: one HEAD request when it did not move (or one question to the gateway). */
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
    // The signature covers the digest: the bytes must be the digest's (a gateway hands both over).
    if (sha256(head.manifest) !== head.digest) throw new RegistryError(`The manifest handed over as ${head.digest} has another digest: refused.`);
    const parsed = SiteManifestSchema.safeParse(parseJson(head.manifest));
    if (!parsed.success) throw new RegistryError(`${this.where()} (${head.digest}) is not a mirrornet site bundle: ${parsed.error.issues[0]?.message ?? ''}.`);
    const m = parsed.data;
    const revision = m.annotations[ANNOTATIONS.revision]!;
    this.seen = { head, revision, annotations: m.annotations, layer: m.layers[0]! };
    return revision;
  }

  /** The head from the registry: a HEAD request, and the manifest only when the tag moved. */
  private async registryHead(): Promise<SiteHead | undefined> {
    const digest = await this.client.manifestDigest(this.tag);
    if (digest && digest === this.seen?.head.digest) return this.seen.head;
    const got = digest ? await this.client.getManifest(digest) : undefined;
    return got ? { digest: got.digest, manifest: got.bytes } : undefined;
  }

  /** Verify and fetch `revision` (the one remoteRevision returned) for this host's roles; what to apply, or why not. */
  async load(revision: string, ctx: { roles: Role[]; applied?: BundleOrigin; step<T>(name: string, fn: () => Promise<T>): Promise<T> }): Promise<BundleLoad> {
    const seen = this.seen;
    if (!seen || seen.revision !== revision)
      throw new RegistryError(`The bundle of ${revision.slice(0, 12)} is no longer at ${this.where()}; the next tick looks again.`);
    const a = seen.annotations;
    const origin: BundleOrigin = { sequence: Number(a[ANNOTATIONS.sequence]), digest: seen.head.digest };
    // The signature first: nothing the manifest says is believed (or repeated in a report) before it checked out.
    const why = await ctx.step('verify', () => this.verify(seen));
    if (why) return { refused: why };
    if (a[ANNOTATIONS.site] !== this.opts.site) return { refused: `${this.where()} holds the bundle of ${a[ANNOTATIONS.site]}, not of ${this.opts.site}` };
    const channel = this.opts.target.tag ?? 'main';
    if (a[ANNOTATIONS.channel] !== undefined && a[ANNOTATIONS.channel] !== channel) {
      return { refused: `${this.where()} holds a bundle published for the channel ${a[ANNOTATIONS.channel]}, not ${channel}` };
    }
    const needs = a[ANNOTATIONS.minAgentVersion]!;
    const schema = Number(a[ANNOTATIONS.schema]);
    const agent = { version: THIS_AGENT.version, reads: BUNDLE_SCHEMA_VERSION };
    // A minimum that is no version at all is one this agent cannot judge: a newer one wrote it.
    const tooOld = tooOldFor(`the bundle of ${revision.slice(0, 12)}`, { minAgentVersion: validVersionOr(needs), schemaVersion: schema }, agent);
    if (tooOld) return { outdated: tooOldSentence({ ...tooOld, minAgentVersion: needs, format: 'bundle' }) };
    if (schema < BUNDLE_SCHEMA_VERSION) {
      return {
        refused:
          `the bundle of ${revision.slice(0, 12)} was published by an older mirrornet (bundle schema ${schema}; this agent reads ${BUNDLE_SCHEMA_VERSION}): ` +
          'publish the revision again with this version of mirrornet',
      };
    }
    if (ctx.applied && origin.sequence < ctx.applied.sequence) {
      const from = a[ANNOTATIONS.rollback];
      if (from === undefined) {
        return {
          refused:
            `${revision.slice(0, 12)} is older than the revision applied here (${origin.sequence} commits against ${ctx.applied.sequence}); ` +
            'publish a newer commit that reverts, or publish it with --rollback on purpose',
        };
      }
      // A rollback undoes the revision it was published against, never one published after it (a replayed rollback).
      if (!/^\d+$/.test(from) || Number(from) < ctx.applied.sequence) {
        return {
          refused:
            `${revision.slice(0, 12)} is a rollback from ${/^\d+$/.test(from) ? `the revision of ${from} commits` : 'an unnamed revision'}, ` +
            `but this host applied a later one (${ctx.applied.sequence} commits): a rollback is not taken again after the fleet moved on; ` +
            'publish a newer commit that reverts, or publish it again with --rollback',
        };
      }
    }
    let bytes: Buffer;
    try {
      bytes = await ctx.step('fetch', () => this.fetchLayer(seen.layer));
    } catch (err) {
      // Bytes that are not the signed layer's are refused; a registry that cannot serve it now fails the tick
      // (a refusal is kept for the revision, so a passing 5xx would hold the host back until the next commit).
      if (err instanceof RegistryError && err.content) return { refused: err.userMessage };
      throw err;
    }
    const layer = SiteLayerSchema.safeParse(parseJson(bytes));
    if (!layer.success || layer.data.site !== this.opts.site) {
      return { refused: `the layer ${seen.layer.digest} of ${revision.slice(0, 12)} is not ${this.opts.site}'s desired state` };
    }
    const { byRole, guardrails, notifications, area } = layer.data;
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

  /** The signature of the head, checked against the host's allowed signers; undefined when good, else why not. */
  private async verify(seen: Seen): Promise<string | undefined> {
    const handed = seen.head.signature;
    if (handed) {
      // Handed over by the gateway: good, or look at the registry's own before refusing anything.
      const result = await verifyDigest(this.opts.exec, seen.head.digest, handed, this.opts.allowedSigners);
      if (result.ok) return this.verified(seen, handed);
    }
    const sig = await this.client.getManifest(signatureTag(seen.head.digest));
    const layer = sig ? (parseJson(sig.bytes) as { layers?: { mediaType?: string; digest?: string }[] }).layers?.[0] : undefined;
    if (!layer?.digest || layer.mediaType !== SIGNATURE_LAYER_MEDIA_TYPE) {
      // Not a refusal: a replication may copy a manifest before its signature; the next tick looks again.
      throw new RegistryError(
        `The bundle ${seen.head.digest} of ${seen.revision.slice(0, 12)} has no signature beside it (${signatureTag(seen.head.digest)}) yet: ` +
          'nothing applied. If it was published without --sign-key, publish it again signed; agents apply only signed bundles.',
      );
    }
    const signature = (await this.client.getBlob(layer.digest, MAX_SIGNATURE_BYTES)).toString('utf8');
    const result = await verifyDigest(this.opts.exec, seen.head.digest, signature, this.opts.allowedSigners);
    return result.ok ? this.verified(seen, signature) : result.reason;
  }

  private verified(seen: Seen, signature: string): undefined {
    seen.head = { ...seen.head, signature };
    this.opts.onVerified?.(seen.head);
    return undefined;
  }
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
