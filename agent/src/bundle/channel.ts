// What a channel of bundles holds now, read from the registry alone: the revision, sequence and rollback of the
// bundle its tag names (the index, the bundle manifest's config), whether its layers are signed, and each site's
// manifest digest (a function of its layer). Apart from publish.ts, so the rollout driver and `mirrornet rollout
// status` read it without loading the validator that publishing needs.
import { siteManifest } from './build.js';
import type { OciClient } from './oci.js';

/** The channel a bundle target without a tag publishes to and follows. */
export const DEFAULT_CHANNEL = 'main';

export interface ChannelHead {
  revision: string;
  sequence: number;
  rollback: boolean;
  rollbackFrom?: number;
  /** Whether its layers carry signatures (published with --sign-key). */
  signed: boolean;
  /** The bundle manifest's digest. */
  digest: string;
  /** Each site's manifest digest: what its `<channel>.<site>` tag points at once its wave is due. */
  siteManifests: Record<string, string>;
}

/** What the channel holds now, from the bundle's index (undefined: nothing yet). */
export async function channelHead(client: OciClient, channel: string): Promise<ChannelHead | undefined> {
  const manifest = await client.getManifest(channel);
  if (!manifest) return undefined;
  const config = (JSON.parse(manifest.bytes.toString('utf8')) as { config?: { digest?: string } }).config?.digest;
  if (!config) return undefined;
  const index = JSON.parse((await client.getBlob(config, 64 * 1024 * 1024)).toString('utf8')) as {
    revision?: string;
    sequence?: number;
    rollback?: boolean;
    rollbackFrom?: number;
    signed?: boolean;
    sites?: Record<string, { digest: string; size: number }>;
  };
  const sites = Object.entries(index.sites ?? {});
  // The channel's manifest references its sites' layers: the repository holds them.
  client.holds(sites.map(([, s]) => s.digest));
  if (!index.revision) return undefined;
  const from = typeof index.rollbackFrom === 'number' ? { rollbackFrom: index.rollbackFrom } : {};
  return {
    revision: index.revision,
    sequence: index.sequence ?? 0,
    rollback: index.rollback === true,
    ...from,
    signed: index.signed === true,
    digest: manifest.digest,
    siteManifests: Object.fromEntries(sites.map(([site, layer]) => [site, siteManifest(layer).digest])),
  };
}
