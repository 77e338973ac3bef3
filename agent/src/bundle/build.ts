// The bundle of one revision, pure: every site's desired state as one deterministic JSON layer, the index
// (revision, commit time, schema version, minimum agent version, guardrails in force, site -> layer) as the
// config blob, and the OCI image manifest that ties them together (OCI image spec, artifact guidance). The
// same revision gives byte-identical blobs and manifest. A bundle never holds a secret: desired state keeps
// secret references, and a layer in which the redaction layer finds a credential is refused.
import { createHash } from 'node:crypto';
import type { Desired } from '../desired/types.js';
import { MirrornetError } from '../errors.js';
import type { Guardrails } from '../model/schema.js';
import { redactText } from '../redact.js';

/** The version of this agent: the minimum an agent must have to apply a bundle it built (package.json's version). */
export const AGENT_VERSION = '0.1.0';

const BUNDLE_SCHEMA_VERSION = 1;
export const MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  bundle: 'application/vnd.mirrornet.bundle.v1',
  index: 'application/vnd.mirrornet.bundle.index.v1+json',
  site: 'application/vnd.mirrornet.bundle.site.v1+json',
} as const;
/** The annotation naming a layer's site. */
export const SITE_ANNOTATION = 'io.mirrornet.site';

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
}

export interface BundleInput {
  revision: string;
  commitTime: string;
  guardrails: Guardrails | null;
  /** Every site's desired state (from reconcile/pipeline.ts with 'all'). */
  sites: ReadonlyMap<string, Desired>;
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

function siteLayer(site: string, desired: Desired): Buffer {
  const text = canonicalJson(desired);
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
    const bytes = siteLayer(name, input.sites.get(name)!);
    const digest = sha256(bytes);
    blobs.set(digest, bytes);
    sites[name] = { digest, size: bytes.length };
    layers.push({ mediaType: MEDIA_TYPES.site, digest, size: bytes.length, annotations: { [SITE_ANNOTATION]: name } });
  }
  const index: BundleIndex = {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    revision: input.revision,
    commitTime: input.commitTime,
    minAgentVersion: AGENT_VERSION,
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
  return { index, blobs, config, layers, manifest, manifestDigest: sha256(manifest) };
}
