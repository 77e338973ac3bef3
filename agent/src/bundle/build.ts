// The bundle of one revision, pure. Every site's desired state per role is one deterministic JSON layer; the
// index (revision, commit time, sequence, schema version, minimum agent version, guardrails in force, site ->
// layer) is the config blob of the bundle manifest (OCI image spec, artifact guidance), which ties them together.
// Beside it, one small manifest per site (its one layer; the revision and the bundle's digest in its
// annotations), tagged `<channel>.<site>`: a host reads only that and its own layer, never the fleet's index, so
// what a host fetches per revision stays a few kilobytes however large the fleet. The same revision gives
// byte-identical blobs and manifests. A bundle never holds a secret: desired state keeps secret references,
// and a layer in which the redaction layer finds a credential is refused.
import { createHash } from 'node:crypto';
import type { DesiredByRole } from '../desired/roles.js';
import { MirrornetError } from '../errors.js';
import { AGENT_VERSION } from '../version.js';
import type { Area, Guardrails, Notifications } from '../model/schema.js';
import { redactText } from '../redact.js';

/** What a site's layer holds; 3: Harbor's desired objects are compiled into it (2 carried only the peers). */
export const BUNDLE_SCHEMA_VERSION = 3;
export const MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  bundle: 'application/vnd.mirrornet.bundle.v1',
  siteArtifact: 'application/vnd.mirrornet.bundle.site.v1',
  index: 'application/vnd.mirrornet.bundle.index.v1+json',
  site: 'application/vnd.mirrornet.bundle.site.v1+json',
  empty: 'application/vnd.oci.empty.v1+json',
} as const;
/** The annotation naming a layer's site. */
export const SITE_ANNOTATION = 'io.mirrornet.site';
/** The annotations of a site manifest a host reads before it fetches anything else. */
export const ANNOTATIONS = {
  revision: 'org.opencontainers.image.revision',
  site: SITE_ANNOTATION,
  schema: 'io.mirrornet.bundle.schema',
  sequence: 'io.mirrornet.bundle.sequence',
  commitTime: 'io.mirrornet.bundle.commit-time',
  minAgentVersion: 'io.mirrornet.bundle.min-agent-version',
  /** On a rollback only: the sequence of the revision it rolls back from. */
  rollback: 'io.mirrornet.bundle.rollback',
  /** The digest of the fleet's bundle manifest the site's manifest belongs to. */
  bundle: 'io.mirrornet.bundle.manifest',
  /** The channel it was published for: a signed manifest of another channel is refused under this one's tag. */
  channel: 'io.mirrornet.bundle.channel',
} as const;
/** The OCI empty descriptor's content (`{}`), the config of a site manifest. */
const EMPTY_CONFIG = Buffer.from('{}');

export class BundleError extends MirrornetError {}

export interface Descriptor {
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
  /** policies/guardrails.yaml of the revision, as in force for its agents; null when the repository has none. */
  guardrails: Guardrails | null;
  sites: Record<string, { digest: string; size: number }>;
}

export interface Bundle {
  index: BundleIndex;
  /** Every blob by digest: the index (config) and one layer per site. */
  blobs: Map<string, Buffer>;
  config: Descriptor;
  layers: Descriptor[];
  manifest: Buffer;
  manifestDigest: string;
  /** Per site, its own small manifest (tagged `<channel>.<site>`). */
  siteManifests: Map<string, { manifest: Buffer; digest: string }>;
}

/** What a site's layer holds: its desired state per role and the policies its agents report and guard by. */
export interface SiteContent {
  byRole: DesiredByRole;
  notifications?: Notifications;
  area?: Area;
}

/** A site layer as published (SiteContent, the site's name and the guardrails in force). */
interface SiteLayer extends SiteContent {
  site: string;
  guardrails?: Guardrails;
}

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
  /** The channel the site manifests are published for (default main). */
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

/** JSON with object keys sorted at every depth: the same value is always the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function siteLayer(site: string, content: SiteContent, guardrails: Guardrails | null): Buffer {
  const layer: SiteLayer = { site, ...content, ...(guardrails ? { guardrails } : {}) };
  const text = canonicalJson(layer);
  // Desired state holds secret references (the schema refuses values); a credential here is a bug upstream.
  if (redactText(text) !== text) {
    throw new BundleError(
      `The desired state of ${site} holds what looks like a credential (a resolved secret, a URL with credentials or a token); ` +
        'a bundle never carries a secret, so nothing was published. Keep secrets as references (env:NAME, file:/path) in the repository.',
    );
  }
  return Buffer.from(text, 'utf8');
}

/** Build the bundle of one revision. Sites are ordered by name, so their order in the input does not matter. */
export function buildBundle(input: BundleInput): Bundle {
  if (!input.sites.size) throw new BundleError(`The fleet at ${input.revision.slice(0, 12)} has no site: there is nothing to publish.`);
  const blobs = new Map<string, Buffer>();
  const layers: Descriptor[] = [];
  const sites: BundleIndex['sites'] = {};
  for (const name of [...input.sites.keys()].sort()) {
    const bytes = siteLayer(name, input.sites.get(name)!, input.guardrails);
    const digest = sha256(bytes);
    blobs.set(digest, bytes);
    sites[name] = { digest, size: bytes.length };
    layers.push({ mediaType: MEDIA_TYPES.site, digest, size: bytes.length, annotations: { [SITE_ANNOTATION]: name } });
  }
  const minAgentVersion = input.minAgentVersion ?? AGENT_VERSION;
  const index: BundleIndex = {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    revision: input.revision,
    commitTime: input.commitTime,
    sequence: input.sequence,
    rollback: input.rollbackFrom !== undefined,
    ...(input.rollbackFrom !== undefined ? { rollbackFrom: input.rollbackFrom } : {}),
    minAgentVersion,
    guardrails: input.guardrails,
    sites,
  };
  const indexBytes = Buffer.from(canonicalJson(index), 'utf8');
  const config: Descriptor = { mediaType: MEDIA_TYPES.index, digest: sha256(indexBytes), size: indexBytes.length };
  blobs.set(config.digest, indexBytes);
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
  const manifestDigest = sha256(manifest);
  blobs.set(sha256(EMPTY_CONFIG), EMPTY_CONFIG);
  const siteManifests = new Map<string, { manifest: Buffer; digest: string }>();
  for (const layer of layers) {
    const site = layer.annotations![SITE_ANNOTATION]!;
    const bytes = Buffer.from(
      canonicalJson({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        artifactType: MEDIA_TYPES.siteArtifact,
        config: { mediaType: MEDIA_TYPES.empty, digest: sha256(EMPTY_CONFIG), size: EMPTY_CONFIG.length },
        layers: [layer],
        // No `subject`: Harbor files a manifest with one as an accessory of its subject (as it does signatures), and
        // a site's manifest must stay an artifact of its own, tagged and replicated as one. The bundle is named here.
        annotations: {
          [ANNOTATIONS.revision]: input.revision,
          [ANNOTATIONS.site]: site,
          [ANNOTATIONS.schema]: String(BUNDLE_SCHEMA_VERSION),
          [ANNOTATIONS.sequence]: String(input.sequence),
          [ANNOTATIONS.commitTime]: input.commitTime,
          [ANNOTATIONS.minAgentVersion]: minAgentVersion,
          [ANNOTATIONS.bundle]: manifestDigest,
          [ANNOTATIONS.channel]: input.channel ?? 'main',
          ...(input.rollbackFrom !== undefined ? { [ANNOTATIONS.rollback]: String(input.rollbackFrom) } : {}),
        },
      }),
      'utf8',
    );
    siteManifests.set(site, { manifest: bytes, digest: sha256(bytes) });
  }
  return { index, blobs, config, layers, manifest, manifestDigest, siteManifests };
}

/** The tag of a site's manifest in a channel: `<channel>.<site>`. */
export function siteTag(channel: string, site: string): string {
  return `${channel}.${site}`;
}
