// The bundle of one revision, pure. Every site's desired state per role is one deterministic JSON layer that
// says what it is (site, revision, order, channel, schema and minimum agent version) and carries its own SSH
// signature (sign.ts), so a host reads no metadata beside it and no signature artifact. The index (revision,
// commit time, sequence, schema version, minimum agent version, guardrails in force, site -> layer) is the
// config blob of the bundle manifest (OCI image spec, artifact guidance), which ties the layers together. Beside
// it, one minimal manifest per site (its one layer, nothing else), tagged `<channel>.<site>`: a host reads only
// that and its own layer, never the fleet's index, so what crosses from a core per region and revision is the
// layer and a few hundred bytes however large the fleet. A bundle never holds a secret: desired state keeps
// secret references, and a layer in which the redaction layer finds a credential is refused.
import { createHash } from 'node:crypto';
import type { DesiredByRole } from '../desired/roles.js';
import { MirrornetError } from '../errors.js';
import { AGENT_VERSION } from '../version.js';
import type { Area, Guardrails, Notifications } from '../model/schema.js';
import { redactText } from '../redact.js';

/**
 * What a site's layer holds. 4: the layer says what it is and carries its signature (3 kept that in the site
 * manifest's annotations and a signature artifact beside it; 2 carried only the peers, not Harbor's objects).
 */
export const BUNDLE_SCHEMA_VERSION = 4;
/** The version in the site artifact's type: a host tells an older or newer format apart before reading a layer. */
export const SITE_ARTIFACT_VERSION = 2;
export const MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  bundle: 'application/vnd.mirrornet.bundle.v1',
  siteArtifact: `application/vnd.mirrornet.bundle.site.v${SITE_ARTIFACT_VERSION}`,
  index: 'application/vnd.mirrornet.bundle.index.v1+json',
  site: `application/vnd.mirrornet.bundle.site.v${SITE_ARTIFACT_VERSION}+json`,
  empty: 'application/vnd.oci.empty.v1+json',
} as const;
/** The annotation naming a layer's site in the bundle manifest. */
export const SITE_ANNOTATION = 'io.mirrornet.site';
/** The OCI empty descriptor's content (`{}`), the config of a site manifest. */
const EMPTY_CONFIG = Buffer.from('{}');

export class BundleError extends MirrornetError {}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface BundleIndex {
  schemaVersion: number;
  revision: string;
  /** The commit's committer time, ISO 8601 (git's %cI). */
  commitTime: string;
  /** How many commits lead to the revision (`git rev-list --count`): a later revision of the branch has a larger one. */
  sequence: number;
  /** Published as a rollback: agents take it even though it is older than what they applied. */
  rollback: boolean;
  /** On a rollback: the sequence of the newest revision the channel rolls back from. */
  rollbackFrom?: number;
  minAgentVersion: string;
  /** Whether each layer carries a signature (published with --sign-key). */
  signed: boolean;
  /** policies/guardrails.yaml of the revision, as in force for its agents; null when the repository has none. */
  guardrails: Guardrails | null;
  sites: Record<string, { digest: string; size: number }>;
}

export interface Bundle {
  index: BundleIndex;
  /** Every blob by digest: the index (config), one layer per site and the sites' empty config. */
  blobs: Map<string, Buffer>;
  config: Descriptor;
  layers: Descriptor[];
  manifest: Buffer;
  manifestDigest: string;
  /** Per site, its own minimal manifest (tagged `<channel>.<site>`). */
  siteManifests: Map<string, { manifest: Buffer; digest: string }>;
}

/** What a site's layer holds: its desired state per role and the policies its agents report and guard by. */
export interface SiteContent {
  byRole: DesiredByRole;
  notifications?: Notifications;
  area?: Area;
}

/** What a site's layer says about itself, all of it signed. */
interface SiteStatement {
  site: string;
  revision: string;
  commitTime: string;
  sequence: number;
  /** On a rollback: the sequence of the revision it rolls back from (an agent that applied later refuses it). */
  rollbackFrom?: number;
  /** The channel it was published for: a layer of another channel is refused under this one's tag. */
  channel: string;
  schemaVersion: number;
  minAgentVersion: string;
  guardrails?: Guardrails;
}

/** A site's layer without its signature: what is signed (sign.ts signs the digest of its canonical JSON). */
type SitePayload = SiteContent & SiteStatement;

export interface BundleInput {
  revision: string;
  commitTime: string;
  sequence: number;
  /**
   * Published as a rollback (`--rollback`): the sequence of the revision the channel rolls back from. An agent
   * takes the older revision only while what it applied is not newer than that, so the signed rollback cannot
   * be put back under the tag later to undo the revisions published after it.
   */
  rollbackFrom?: number;
  /** The channel the bundle is published for (default main). */
  channel?: string;
  guardrails: Guardrails | null;
  /** Every site's content (its roles as reconcile/pipeline.ts evaluateRepository compiles them). */
  sites: ReadonlyMap<string, SiteContent>;
  /**
   * The oldest agent that may apply the revision: the repository's declaration (policies/agent.yaml); absent (a
   * repository without one), this publisher's version. The bundle schema version still guards the bundle format.
   */
  minAgentVersion?: string;
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * JSON with object keys sorted at every depth and no whitespace: the same value is always the same bytes. What
 * is written is what JSON.stringify writes (toJSON, undefined and functions left out, holes as null, -0 as 0);
 * keys are sorted by UTF-16 code unit — `jq -S`'s order for every key without a character beyond U+FFFF —
 * where JavaScript's own order would put integer-like keys first.
 */
export function canonicalJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'null' : sortedJson(JSON.parse(text));
}

/** Plain JSON data (what JSON.parse gives) written with its keys sorted. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A site's payload, and its canonical JSON (what its signature covers). */
function sitePayload(site: string, content: SiteContent, input: BundleInput): { payload: SitePayload; bytes: Buffer } {
  const payload: SitePayload = {
    ...content,
    site,
    revision: input.revision,
    commitTime: input.commitTime,
    sequence: input.sequence,
    ...(input.rollbackFrom !== undefined ? { rollbackFrom: input.rollbackFrom } : {}),
    channel: input.channel ?? 'main',
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    minAgentVersion: input.minAgentVersion ?? AGENT_VERSION,
    ...(input.guardrails ? { guardrails: input.guardrails } : {}),
  };
  const text = canonicalJson(payload);
  // Desired state holds secret references (the schema refuses values); a credential here is a bug upstream.
  if (redactText(text) !== text) {
    throw new BundleError(
      `The desired state of ${site} holds what looks like a credential (a resolved secret, a URL with credentials or a token); ` +
        'a bundle never carries a secret, so nothing was published. Keep secrets as references (env:NAME, file:/path) in the repository.',
    );
  }
  return { payload, bytes: Buffer.from(text, 'utf8') };
}

/** Each site's payload, its canonical JSON and its digest (what the publisher signs), built once for buildBundle. */
export type SitePayloads = ReadonlyMap<string, { payload: SitePayload; bytes: Buffer; digest: string }>;

export function sitePayloads(input: BundleInput): SitePayloads {
  return new Map(
    [...input.sites].map(([site, content]) => {
      const { payload, bytes } = sitePayload(site, content, input);
      return [site, { payload, bytes, digest: sha256(bytes) }];
    }),
  );
}

/** The digest a layer's signature covers: its canonical JSON without the signature (the layer is canonical JSON). */
export function signedDigestOf(layer: Record<string, unknown>): string {
  const { signature: _signature, ...payload } = layer;
  return sha256(Buffer.from(canonicalJson(payload), 'utf8'));
}

/** A site's minimal manifest: the empty config and its one layer. A function of the layer alone. */
export function siteManifest(layer: { digest: string; size: number }): { manifest: Buffer; digest: string } {
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      artifactType: MEDIA_TYPES.siteArtifact,
      config: { mediaType: MEDIA_TYPES.empty, digest: sha256(EMPTY_CONFIG), size: EMPTY_CONFIG.length },
      // No annotations (the layer says it all, signed) and no `subject`: Harbor would file the manifest as an
      // accessory of its subject (as it does signatures), and a site's manifest must stay an artifact of its own.
      layers: [{ mediaType: MEDIA_TYPES.site, digest: layer.digest, size: layer.size }],
    }),
    'utf8',
  );
  return { manifest, digest: sha256(manifest) };
}

/**
 * Build the bundle of one revision: `signatures` (by payload digest, sitePayloads) go into the layers; without
 * them the bundle is unsigned and agents refuse it. Sites are ordered by name, so their order in the input does
 * not matter, and the same revision with the same signatures gives byte-identical blobs and manifests.
 */
export function buildBundle(input: BundleInput, signatures?: ReadonlyMap<string, string>, payloads: SitePayloads = sitePayloads(input)): Bundle {
  if (!input.sites.size) throw new BundleError(`The fleet at ${input.revision.slice(0, 12)} has no site: there is nothing to publish.`);
  const blobs = new Map<string, Buffer>();
  const layers: Descriptor[] = [];
  const sites: BundleIndex['sites'] = {};
  const siteManifests = new Map<string, { manifest: Buffer; digest: string }>();
  for (const name of [...input.sites.keys()].sort()) {
    const { payload, bytes: unsigned, digest: signed } = payloads.get(name)!;
    let bytes = unsigned;
    if (signatures) {
      const signature = signatures.get(signed);
      if (signature === undefined) throw new BundleError(`The layer of ${name} was not signed: nothing was published.`);
      bytes = Buffer.from(canonicalJson({ ...payload, signature }), 'utf8');
    }
    const digest = sha256(bytes);
    blobs.set(digest, bytes);
    sites[name] = { digest, size: bytes.length };
    layers.push({ mediaType: MEDIA_TYPES.site, digest, size: bytes.length, annotations: { [SITE_ANNOTATION]: name } });
    siteManifests.set(name, siteManifest(sites[name]));
  }
  const index: BundleIndex = {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    revision: input.revision,
    commitTime: input.commitTime,
    sequence: input.sequence,
    rollback: input.rollbackFrom !== undefined,
    ...(input.rollbackFrom !== undefined ? { rollbackFrom: input.rollbackFrom } : {}),
    minAgentVersion: input.minAgentVersion ?? AGENT_VERSION,
    signed: signatures !== undefined,
    guardrails: input.guardrails,
    sites,
  };
  const indexBytes = Buffer.from(canonicalJson(index), 'utf8');
  const config: Descriptor = { mediaType: MEDIA_TYPES.index, digest: sha256(indexBytes), size: indexBytes.length };
  blobs.set(config.digest, indexBytes);
  blobs.set(sha256(EMPTY_CONFIG), EMPTY_CONFIG);
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      artifactType: MEDIA_TYPES.bundle,
      config,
      layers,
      // No creation time: it would make two builds of one revision differ. The commit time is in the index.
      annotations: { 'org.opencontainers.image.revision': input.revision },
    }),
    'utf8',
  );
  return { index, blobs, config, layers, manifest, manifestDigest: sha256(manifest), siteManifests };
}

/** The tag of a site's manifest in a channel: `<channel>.<site>`. */
export function siteTag(channel: string, site: string): string {
  return `${channel}.${site}`;
}
