// The lab's stand-in for what Harbor's core does with its registry's notifications (distribution's
// `notifications` endpoint, which is how Harbor itself learns of a push): the push runs the Harbor's event-based
// replications, and a push of the fleet's bundle channel is a webhook to the gateway agents that follow that
// core (as a Harbor webhook policy would send, with its auth header). The cores' registries reach this on the
// lab's host address; the agents are told on loopback. Events are taken in bursts: a publish or a replication
// pushes many manifests, and the agents are told once, after the last of them.
import { createServer, type Server } from 'node:http';
import { bundleCore, BUNDLE_CHANNEL, BUNDLE_REPOSITORY } from './delivery.js';
import { loadState } from './processes.js';
import { siteOf } from './topology.js';

export interface RegistryEventsOptions {
  host: string;
  /** The bearer token each core's registry sends (its notification endpoint's headers). */
  token: string;
  /** The token a gateway agent takes on /hooks/registry. */
  hookToken: string;
  labDir: string;
  /** A push into `core`'s registry: the tags pushed per repository, once per burst. */
  pushed(core: string, tags: Map<string, string[]>): void;
  say(msg: string, extra?: Record<string, unknown>): void;
}

interface DistributionEvent {
  action?: string;
  target?: { repository?: string; tag?: string; mediaType?: string };
}

const BURST_MS = 150;

/** Tell every gateway agent that follows `core`'s registry (not the publisher) to reconcile now. */
export async function notifyGateways(labDir: string, core: string, hookToken: string): Promise<number> {
  const state = loadState(labDir);
  const t = state?.topology;
  if (!state?.bundle || !t) return 0;
  const agents = state.agents.filter((a) => a.role === 'gateway' && a.site !== state.bundle!.publisher && bundleCore(t, siteOf(t, a.site)).name === core);
  const results = await Promise.all(
    agents.map((a) =>
      fetch(`http://${a.listen}/hooks/registry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${hookToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'PUSH_ARTIFACT', repository: BUNDLE_REPOSITORY }),
        signal: AbortSignal.timeout(3000),
      }).then(
        (r) => r.status === 202,
        () => false,
      ),
    ),
  );
  return results.filter(Boolean).length;
}

export async function startRegistryEvents(opts: RegistryEventsOptions): Promise<{ server: Server; port: number }> {
  const bursts = new Map<string, { repos: Map<string, Set<string>>; channel: boolean; timer: NodeJS.Timeout }>();
  const flush = (core: string) => {
    const b = bursts.get(core);
    bursts.delete(core);
    if (!b) return;
    opts.pushed(core, new Map([...b.repos].map(([repo, tags]) => [repo, [...tags]])));
    // The publisher moves the channel's tag last: the sites' manifests (and their signed layers) are all there by then.
    // A replication's pushes are not told here: its tags arrive in any order, and its end is (services.ts).
    if (b.channel && loadState(opts.labDir)?.bundle?.publisher === core) {
      void notifyGateways(opts.labDir, core, opts.hookToken).then((n) => opts.say('registry push: gateways told', { core, gateways: n }));
    }
  };
  const server = createServer((req, res) => {
    const m = /^\/registry-events\/([^/?]+)$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return void res.writeHead(404).end();
    if (req.headers.authorization !== `Bearer ${opts.token}`) return void res.writeHead(401).end();
    const core = decodeURIComponent(m[1]!);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let events: DistributionEvent[] = [];
      try {
        events = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events?: DistributionEvent[] }).events ?? [];
      } catch {
        return void res.writeHead(400).end();
      }
      res.writeHead(200).end();
      const pushes = events.filter((e) => e.action === 'push' && e.target?.repository);
      if (!pushes.length) return;
      const b = bursts.get(core) ?? { repos: new Map<string, Set<string>>(), channel: false, timer: setTimeout(() => undefined, 0) };
      clearTimeout(b.timer);
      for (const e of pushes) {
        const tags = b.repos.get(e.target!.repository!) ?? new Set<string>();
        if (e.target!.tag) tags.add(e.target!.tag);
        b.repos.set(e.target!.repository!, tags);
        if (e.target!.repository === BUNDLE_REPOSITORY && e.target!.tag === BUNDLE_CHANNEL) b.channel = true;
      }
      b.timer = setTimeout(() => flush(core), BURST_MS);
      bursts.set(core, b);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}
