// What a host reads of a bundle, checked before it is used: a site manifest (the artifact type that says the
// format, and its one layer), a site layer (what it is, its desired state per role, and its signature) and the
// head a site's gateway hands its nodes. The layer's content was validated by the publisher and is signed: only
// its shape is checked here, without the repository's schemas, so an agent's own process stays small (the model
// is never loaded to apply a bundle).
import { z } from 'zod';
import type { Area, Guardrails, Notifications } from '../model/schema.js';

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);
/** A git commit id (SHA-1 or SHA-256). */
const REVISION = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
/** The artifact type of a site manifest of any format version. */
const SITE_ARTIFACT = /^application\/vnd\.mirrornet\.bundle\.site\.v(\d+)$/;

export const SiteManifestSchema = z.object({
  schemaVersion: z.literal(2),
  artifactType: z.string().regex(SITE_ARTIFACT, 'not a mirrornet site artifact'),
  layers: z.array(z.object({ mediaType: z.string(), digest: Digest, size: z.int().min(1) })).min(1),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** The format version a site manifest's artifact type names. */
export function siteArtifactVersion(artifactType: string): number {
  return Number(SITE_ARTIFACT.exec(artifactType)?.[1] ?? 0);
}

/** What a layer of any schema says first: enough to name its revision and to tell whether this agent reads it. */
export const LayerHeadSchema = z.looseObject({
  revision: z.string().regex(REVISION),
  schemaVersion: z.int().min(1),
  minAgentVersion: z.string(),
  signature: z.string().optional(),
});
export type LayerHead = z.infer<typeof LayerHeadSchema>;

/** The head as it travels between a gateway and its nodes (JSON): the site manifest's digest and bytes (base64). */
export const HeadMessageSchema = z.object({ digest: z.string(), manifest: z.string() });
export type HeadMessage = z.infer<typeof HeadMessageSchema>;

const Role = z.enum(['gateway', 'node', 'hub']);

export const SiteLayerSchema = z.object({
  site: z.string(),
  revision: z.string().regex(REVISION),
  commitTime: z.string(),
  sequence: z.int().min(0),
  rollbackFrom: z.int().min(0).optional(),
  channel: z.string(),
  schemaVersion: z.int(),
  minAgentVersion: z.string(),
  signature: z.string().optional(),
  // Desired state is our own compile output: its shape is checked by the providers that read it.
  byRole: z.partialRecord(Role, z.looseObject({ site: z.string(), routes: z.array(z.unknown()), wireguard: z.array(z.unknown()) })),
  guardrails: z.custom<Guardrails>((v) => isObject(v)).optional(),
  notifications: z.custom<Notifications>((v) => isObject(v)).optional(),
  area: z.custom<Area>((v) => v === 'cn' || v === 'overseas').optional(),
});

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
