// What a channel of bundles holds now, read from the registry alone: the revision, sequence and rollback of the
// bundle its tag names (the index, the bundle manifest's config). Apart from publish.ts, so the rollout driver and
// `mirrornet rollout status` read it without loading the validator that publishing needs.
import type { OciClient } from './oci.js';

/** The channel a bundle target without a tag publishes to and follows. */
export const DEFAULT_CHANNEL = 'main';

/** What the channel holds now: its revision, sequence and whether it is a rollback, from the bundle's index (undefined: nothing yet). */
export async function channelHead(
  client: OciClient,
  channel: string,
): Promise<{ revision: string; sequence: number; rollback: boolean; rollbackFrom?: number; digest: string } | undefined> {
  const manifest = await client.getManifest(channel);
  if (!manifest) return undefined;
  const config = (JSON.parse(manifest.bytes.toString('utf8')) as { config?: { digest?: string } }).config?.digest;
  if (!config) return undefined;
  const index = JSON.parse((await client.getBlob(config, 64 * 1024 * 1024)).toString('utf8')) as {
    revision?: string;
    sequence?: number;
    rollback?: boolean;
    rollbackFrom?: number;
    sites?: Record<string, { digest: string }>;
  };
  // The channel's manifest references its sites' layers: the repository holds them.
  client.holds(Object.values(index.sites ?? {}).map((s) => s.digest));
  if (!index.revision) return undefined;
  const from = typeof index.rollbackFrom === 'number' ? { rollbackFrom: index.rollbackFrom } : {};
  return { revision: index.revision, sequence: index.sequence ?? 0, rollback: index.rollback === true, ...from, digest: manifest.digest };
}
