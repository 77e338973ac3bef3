// Where `mirrornet rollout status` reads a rollout's progress: the publisher writes its rollout controller's
// state beside the bundles, as a small unsigned OCI artifact tagged `<channel>_rollout` (a site tag is
// `<channel>.<site>`, and a site name has no `_`), so the registry's replication carries it to the other core
// and anyone who may pull the bundles can read it. It only reports: no agent follows it.
import { MEDIA_TYPES, canonicalJson, sha256 } from './build.js';
import type { OciClient } from './oci.js';

const STATUS_MEDIA_TYPE = 'application/vnd.mirrornet.rollout.v1+json';
const EMPTY_CONFIG = Buffer.from('{}');
/** A rollout state is a few kilobytes per wave; nothing larger is read. */
const MAX_STATUS_BYTES = 4 * 1024 * 1024;

/** The tag of a channel's rollout status. */
export function rolloutStatusTag(channel: string): string {
  return `${channel}_rollout`;
}

/** Push `state` (any JSON value) as the channel's rollout status. */
export async function writeRolloutStatus(client: OciClient, channel: string, state: unknown): Promise<void> {
  const bytes = Buffer.from(canonicalJson(state), 'utf8');
  const layer = { mediaType: STATUS_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length };
  await client.pushBlob(sha256(EMPTY_CONFIG), EMPTY_CONFIG);
  await client.pushBlob(layer.digest, bytes);
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      artifactType: 'application/vnd.mirrornet.rollout.v1',
      config: { mediaType: MEDIA_TYPES.empty, digest: sha256(EMPTY_CONFIG), size: EMPTY_CONFIG.length },
      layers: [layer],
    }),
    'utf8',
  );
  await client.putManifest(rolloutStatusTag(channel), manifest, MEDIA_TYPES.manifest);
}

/** The channel's rollout status as JSON text, or undefined when the publisher never wrote one. */
export async function readRolloutStatus(client: OciClient, channel: string): Promise<string | undefined> {
  const manifest = await client.getManifest(rolloutStatusTag(channel));
  if (!manifest) return undefined;
  const layer = (JSON.parse(manifest.bytes.toString('utf8')) as { layers?: { digest?: string }[] }).layers?.[0]?.digest;
  if (!layer) return undefined;
  return (await client.getBlob(layer, MAX_STATUS_BYTES)).toString('utf8');
}
