// A site's gateway hands its nodes the bundle head (bundle/feed.ts): what the gateway keeps and when it answers
// a waiting node (HeadBroadcast), the Bearer check, and a node's GatewayFeed against a real agent server
// (GET /v1/bundle long-poll): answered when a head is offered, 204 with nothing new, refused with a wrong
// token, unreachable when nobody listens; and a node's BundleSource refusing a manifest that is not its digest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { buildBundle } from '../../src/bundle/build.js';
import { bearerMatches, GatewayFeed, HeadBroadcast } from '../../src/bundle/feed.js';
import { parseOciReference, RegistryError, type OciTarget } from '../../src/bundle/oci.js';
import { BundleSource, type HeadFeed, type SiteHead } from '../../src/bundle/source.js';
import { fanoutEndpoint } from '../../src/cli/agent-sources.js';
import { localExec } from '../../src/host/exec.js';
import { closeServer, startServer, takeProcessFaults, type Harness } from '../server/harness.js';

const TOKEN = 'fan-out token of cn-shanghai';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A head as a gateway holds it: manifest bytes `{"n":N}` and their digest. */
function head(n: number): SiteHead {
  const manifest = Buffer.from(`{"n":${n}}`);
  return { digest: sha256(manifest), manifest };
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function healthOf(h: Harness): Promise<number> {
  return (await fetch(`${h.base}/healthz`)).status;
}

async function refusals(h: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await h.metrics.registry.metrics()).matchAll(/^mirrornet_http_refused_total\{reason="([a-z-]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('HeadBroadcast (what a gateway hands its nodes)', function () {
  it('holds nothing at first, and ignores an absent head', function () {
    const b = new HeadBroadcast();
    assert.equal(b.current(), undefined);
    b.offer(undefined);
    assert.equal(b.current(), undefined);
  });

  it('keeps the first head of a digest: offering the same digest again changes nothing', async function () {
    const b = new HeadBroadcast();
    b.offer(head(1));
    const waiting = b.wait(head(1).digest, 50);
    b.offer({ ...head(1), manifest: Buffer.from('{"n":1} ') });
    assert.equal(await waiting, undefined, 'a waiting node is not answered with the digest it has');
    assert.equal(b.current()?.manifest.toString(), '{"n":1}');
    b.offer(head(2));
    assert.equal(b.current()?.digest, head(2).digest);
    assert.equal(b.current()?.manifest.toString(), '{"n":2}');
  });

  it('answers a wait at once when the head it holds is not the one the node has', async function () {
    const b = new HeadBroadcast();
    b.offer(head(1));
    assert.equal((await b.wait(undefined, 60_000))?.manifest.toString(), '{"n":1}');
    assert.equal((await b.wait(head(0).digest, 60_000))?.manifest.toString(), '{"n":1}');
  });

  it('answers every waiting node when a new head is offered, not the same one again', async function () {
    const b = new HeadBroadcast();
    b.offer(head(1));
    const events: string[] = [];
    const waits = [1, 2].map((i) => b.wait(head(1).digest, 60_000).then((h) => events.push(`node ${i} got ${h?.manifest.toString()}`)));
    await new Promise((r) => setImmediate(r));
    b.offer(head(1));
    await new Promise((r) => setImmediate(r));
    events.push('offered 2');
    b.offer(head(2));
    await Promise.all(waits);
    assert.deepEqual(events, ['offered 2', 'node 1 got {"n":2}', 'node 2 got {"n":2}']);
  });

  it('answers undefined when nothing new comes within the wait', async function () {
    const b = new HeadBroadcast();
    assert.equal(await b.wait(undefined, 1), undefined);
    b.offer(head(1));
    assert.equal(await b.wait(head(1).digest, 1), undefined);
  });

  it('answers undefined when the waiting node goes away (abort), before any head comes', async function () {
    const b = new HeadBroadcast();
    const gone = new AbortController();
    const waiting = b.wait(undefined, 60_000, gone.signal);
    gone.abort();
    assert.equal(await waiting, undefined);
  });

  it('answers undefined at once for a node that went away before it waited', async function () {
    this.timeout(5000); // a wait that ignored the abort would hold until its own 60 s
    const b = new HeadBroadcast();
    assert.equal(await b.wait(undefined, 60_000, AbortSignal.abort()), undefined);
  });
});

describe('bearerMatches', function () {
  it('accepts the token as a Bearer token, and nothing else', function () {
    assert.equal(bearerMatches(`Bearer ${TOKEN}`, TOKEN), true);
    assert.equal(bearerMatches(`bearer ${TOKEN}`, TOKEN), true, 'the scheme is case-insensitive (RFC 9110)');
    assert.equal(bearerMatches(undefined, TOKEN), false);
    assert.equal(bearerMatches('', TOKEN), false);
    assert.equal(bearerMatches(TOKEN, TOKEN), false, 'no scheme');
    assert.equal(bearerMatches(`Basic ${TOKEN}`, TOKEN), false);
    assert.equal(bearerMatches('Bearer ', TOKEN), false);
    assert.equal(bearerMatches(`Bearer ${TOKEN}x`, TOKEN), false);
    assert.equal(bearerMatches(`Bearer ${TOKEN.slice(0, -1)}X`, TOKEN), false, 'same length, one byte off');
  });
});

describe('GatewayFeed against a gateway agent (GET /v1/bundle)', function () {
  this.timeout(15_000);
  let h: Harness;
  let broadcast: HeadBroadcast;
  /** Resolved each time the gateway starts holding a long-poll. */
  let holding: { promise: Promise<void>; resolve: () => void };

  beforeEach(async function () {
    broadcast = new HeadBroadcast();
    holding = deferred();
    const endpoint = fanoutEndpoint(broadcast, TOKEN);
    h = await startServer({
      fanout: {
        authorized: endpoint.authorized,
        wait: (after, waitMs, signal) => {
          const answer = endpoint.wait(after, waitMs, signal);
          holding.resolve();
          return answer;
        },
      },
    });
  });
  afterEach(async function () {
    await closeServer(h.server);
    assert.deepEqual(takeProcessFaults(), [], 'unhandled rejections (each would kill the agent)');
  });

  it('hands over the head as JSON: its digest and the manifest in base64', async function () {
    broadcast.offer(head(1));
    const res = await fetch(`${h.base}/v1/bundle?wait=0`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { digest: head(1).digest, manifest: 'eyJuIjoxfQ==' });
  });

  it("gives a node the gateway's head with its manifest bytes, and nothing while the gateway has none", async function () {
    const feed = new GatewayFeed(h.base, TOKEN);
    assert.equal(await feed.current(), undefined);
    broadcast.offer(head(1));
    const got = await feed.current();
    assert.equal(got?.digest, head(1).digest);
    assert.equal(got?.manifest.toString(), '{"n":1}');
  });

  it('answers 204 when nothing newer than the head the node has comes within the wait', async function () {
    broadcast.offer(head(1));
    const res = await fetch(`${h.base}/v1/bundle?after=${head(1).digest}&wait=1`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
  });

  it('answers a long-poll as soon as a new head is offered, not when the wait is over', async function () {
    broadcast.offer(head(1));
    const feed = new GatewayFeed(h.base, TOKEN);
    assert.equal((await feed.current())?.digest, head(1).digest);
    holding = deferred();
    const events: string[] = [];
    const stop = new AbortController();
    // The feed asks with a 20 s wait (longer than this test may take): only the offer can answer it in time.
    const watching = feed.watch((changed) => {
      events.push(`changed to ${changed.manifest.toString()}`);
      stop.abort();
    }, stop.signal);
    await holding.promise;
    events.push('gateway holds the long-poll');
    broadcast.offer(head(2));
    events.push('offered');
    await watching;
    assert.deepEqual(events, ['gateway holds the long-poll', 'offered', 'changed to {"n":2}']);
  });

  it('lets go of a long-poll whose node hangs up: the wait is aborted and nothing is answered', async function () {
    const aborted = deferred();
    const endpoint = fanoutEndpoint(broadcast, TOKEN);
    await closeServer(h.server);
    h = await startServer({
      fanout: {
        authorized: endpoint.authorized,
        wait: (after, waitMs, signal) => {
          signal.addEventListener('abort', () => aborted.resolve());
          holding.resolve();
          return endpoint.wait(after, waitMs, signal);
        },
      },
    });
    const hangUp = new AbortController();
    const polling = fetch(`${h.base}/v1/bundle?wait=20000`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: hangUp.signal });
    await holding.promise;
    hangUp.abort();
    await assert.rejects(polling, { name: 'AbortError' });
    await aborted.promise;
    broadcast.offer(head(1));
    assert.equal(await healthOf(h), 200);
  });

  it('refuses a wrong token with 401, counted as bad-signature, and the node says which flag to align', async function () {
    broadcast.offer(head(1));
    const before = (await refusals(h))['bad-signature'];
    const wrong = new GatewayFeed(h.base, 'another token');
    await assert.rejects(
      wrong.current(),
      (err: unknown) =>
        err instanceof RegistryError &&
        !err.unreachable &&
        err.message === `The gateway at 127.0.0.1:${h.port} refused this node's fan-out token: give every agent of the site the same --fanout-token.`,
    );
    const none = await fetch(`${h.base}/v1/bundle?wait=0`);
    assert.equal(none.status, 401);
    assert.equal(await none.text(), 'missing or wrong fan-out token\n');
    assert.equal((await refusals(h))['bad-signature'], before! + 2);
  });

  it('refuses an answer that is not a bundle head (no digest or manifest, or not JSON) with a sentence, not a crash', async function () {
    for (const body of ['{"digest":1}', 'not json']) {
      const fake = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
      const port = (fake.address() as net.AddressInfo).port;
      try {
        await assert.rejects(
          new GatewayFeed(`http://127.0.0.1:${port}`, TOKEN).current(),
          (err: unknown) => err instanceof RegistryError && err.message === `The gateway at 127.0.0.1:${port} answered something that is not a bundle head.`,
        );
      } finally {
        await new Promise((resolve) => fake.close(resolve));
      }
    }
  });

  it('says the gateway cannot be reached (unreachable) when nobody listens there', async function () {
    const port = await freePort();
    await assert.rejects(
      new GatewayFeed(`http://127.0.0.1:${port}`, TOKEN).current(),
      (err: unknown) =>
        err instanceof RegistryError && err.unreachable && err.message === `Cannot reach the site's gateway at 127.0.0.1:${port} (ECONNREFUSED).`,
    );
  });

  describe('a node following bundles through its gateway (BundleSource with a feed)', function () {
    let registry: OciTarget;
    beforeEach(async function () {
      const target = parseOciReference(`oci+http://127.0.0.1:${await freePort()}/mirrornet/fleet:main`);
      assert.ok(!('error' in target));
      registry = target;
    });
    const source = (feed: HeadFeed, mirror?: string) =>
      new BundleSource({
        target: registry,
        site: 'cn-shanghai',
        allowedSigners: '/nonexistent/allowed_signers',
        exec: localExec(),
        feed,
        timeoutMs: 5000,
        ...(mirror ? { mirror } : {}),
      });

    it("learns of a head from its gateway and takes the layer from the region's mirror, never asking the registry", async function () {
      const bundle = buildBundle({
        revision: 'a'.repeat(40),
        commitTime: '2026-01-02T03:04:05+00:00',
        sequence: 7,
        guardrails: null,
        sites: new Map([['cn-shanghai', { byRole: {} }]]),
      });
      const site = bundle.siteManifests.get('cn-shanghai')!;
      // The region's mirror: serves the bundle's blobs, and records what it was asked.
      const asked: string[] = [];
      const mirror = http.createServer((req, res) => {
        asked.push(req.url ?? '');
        const bytes = bundle.blobs.get(/\/blobs\/(sha256:[a-f0-9]{64})/.exec(req.url ?? '')?.[1] ?? '');
        res.writeHead(bytes ? 200 : 404).end(bytes);
      });
      await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
      try {
        broadcast.offer({ digest: site.digest, manifest: site.manifest });
        const node = source(new GatewayFeed(h.base, TOKEN), `http://127.0.0.1:${(mirror.address() as net.AddressInfo).port}`);
        // The registry's port has no listener: any request there would fail the call. The layer is not signed,
        // so the head is named by its manifest's digest (and refused when loaded).
        assert.equal(await node.remoteRevision(), site.digest);
        assert.equal(node.latest()?.digest, site.digest);
        assert.deepEqual(asked, [`/v2/mirrornet/fleet/blobs/${bundle.index.sites['cn-shanghai']!.digest}?ns=${encodeURIComponent(registry.host)}`]);
      } finally {
        await new Promise((resolve) => mirror.close(resolve));
      }
    });

    it('refuses a handed-over manifest whose bytes are not its digest', async function () {
      const forged: SiteHead = { digest: head(1).digest, manifest: Buffer.from('{"n":666}') };
      broadcast.offer(forged);
      await assert.rejects(
        source(new GatewayFeed(h.base, TOKEN)).remoteRevision(),
        (err: unknown) => err instanceof RegistryError && err.message === `The manifest handed over as ${head(1).digest} has another digest: refused.`,
      );
    });

    it('asks the registry when the gateway cannot be reached (and says the registry cannot be reached either)', async function () {
      const gateway = `http://127.0.0.1:${await freePort()}`;
      await assert.rejects(
        source(new GatewayFeed(gateway, TOKEN)).remoteRevision(),
        (err: unknown) => err instanceof RegistryError && err.unreachable && err.message.startsWith(`Cannot reach the registry ${registry.host} `),
      );
    });

    it('asks the registry when the gateway has no head to hand out yet (a gateway that just restarted)', async function () {
      // The gateway answers 204 (nothing offered since it started): the node asks the registry for itself.
      await assert.rejects(
        source(new GatewayFeed(h.base, TOKEN)).remoteRevision(),
        (err: unknown) => err instanceof RegistryError && err.unreachable && err.message.startsWith(`Cannot reach the registry ${registry.host} `),
      );
    });

    it('does not go round a gateway that refuses its token: the refusal is the answer', async function () {
      await assert.rejects(
        source(new GatewayFeed(h.base, 'another token')).remoteRevision(),
        (err: unknown) => err instanceof RegistryError && err.message.startsWith(`The gateway at 127.0.0.1:${h.port} refused this node's fan-out token`),
      );
    });
  });
});
