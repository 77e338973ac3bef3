// What a host reads of a bundle, checked before it is used: a site manifest (its one layer and the annotations
// that say which revision, in which order, for which agent) and a site layer (desired state per role). The
// layer's content was validated by the publisher and is signed: only its shape is checked here, without the
// repository's schemas, so an agent's own process stays small (the model is never loaded to apply a bundle).
import { z } from 'zod';
import type { Area, Guardrails, Notifications } from '../model/schema.js';
import { ANNOTATIONS, MEDIA_TYPES } from './build.js';

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);

export const SiteManifestSchema = z.object({
  schemaVersion: z.literal(2),
  artifactType: z.literal(MEDIA_TYPES.siteArtifact),
  layers: z.tuple([z.object({ mediaType: z.literal(MEDIA_TYPES.site), digest: Digest, size: z.int().min(1) })]),
  annotations: z
    .record(z.string(), z.string())
    .refine((a) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(a[ANNOTATIONS.revision] ?? ''), 'no revision annotation')
    .refine((a) => /^\d+$/.test(a[ANNOTATIONS.sequence] ?? ''), 'no sequence annotation')
    .refine((a) => /^\d+$/.test(a[ANNOTATIONS.schema] ?? ''), 'no schema annotation')
    .refine((a) => Boolean(a[ANNOTATIONS.site] && a[ANNOTATIONS.minAgentVersion]), 'no site or agent version annotation'),
});

const Role = z.enum(['gateway', 'node', 'hub']);

export const SiteLayerSchema = z.object({
  site: z.string(),
  // Desired state is our own compile output: its shape is checked by the providers that read it.
  byRole: z.partialRecord(Role, z.looseObject({ site: z.string(), routes: z.array(z.unknown()), wireguard: z.array(z.unknown()) })),
  guardrails: z.custom<Guardrails>((v) => isObject(v)).optional(),
  notifications: z.custom<Notifications>((v) => isObject(v)).optional(),
  area: z.custom<Area>((v) => v === 'cn' || v === 'overseas').optional(),
});

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
