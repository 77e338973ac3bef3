// The agent endpoint's bundle routes (server/index.ts): POST /hooks/registry, a registry's push or replication
// webhook that reconciles at once (token checked, rate limited with the GitHub webhook, body bounded), and
// GET /v1/bundle, which only a gateway configured for fan-out serves. In process, on a real server.
import assert from 'node:assert/strict';
import http from 'node:http';
import { registryHookEndpoint } from '../../src/cli/agent-sources.js';
import { MAX_WEBHOOK_BYTES } from '../../src/server/index.js';
import { closeServer, startServer, takeProcessFaults, type Harness } from './harness.js';

const HOOK_TOKEN = 'registry hook token 5d1c';
const harborPush = JSON.stringify({ type: 'PUSH_ARTIFACT', event_data: { repository: { repo_full_name: 'mirrornet/fleet' }, resources: [{ tag: 'main' }] } });

function registryHook(base: string, headers: Record<string, string> = {}, body = harborPush): Promise<Response> {
  return fetch(`${base}/hooks/registry`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

/** POST with node:http, resolving with the status even when the server closes the connection after answering early. */
function rawPost(base: string, path: string, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    let answered = false;
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...headers, 'content-length': String(body.length) } },
      (res) => {
        answered = true;
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(body);
  });
}

async function refusals(h: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await h.metrics.registry.metrics()).matchAll(/^mirrornet_http_refused_total\{reason="([a-z-]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('agent endpoint: POST /hooks/registry and GET /v1/bundle', function () {
  let h: Harness | undefined;
  afterEach(async function () {
    if (h) await closeServer(h.server);
    h = undefined;
    assert.deepEqual(takeProcessFaults(), [], 'unhandled rejections (each would kill the agent)');
  });

  describe('without --registry-hook-token or fan-out', function () {
    beforeEach(async function () {
      h = await startServer();
    });

    it('answers a registry webhook 404 and does not reconcile', async function () {
      const res = await registryHook(h!.base, { authorization: `Bearer ${HOOK_TOKEN}` });
      assert.equal(res.status, 404);
      assert.equal(await res.text(), 'registry webhooks are not enabled on this agent\n');
      assert.deepEqual(h!.triggers, []);
    });

    it('answers GET /v1/bundle 404: this agent hands out no bundle', async function () {
      const res = await fetch(`${h!.base}/v1/bundle?wait=0`, { headers: { authorization: 'Bearer anything' } });
      assert.equal(res.status, 404);
      assert.equal(await res.text(), 'this agent hands out no bundle\n');
    });
  });

  describe('with a registry hook token', function () {
    beforeEach(async function () {
      h = await startServer({
        registryHook: registryHookEndpoint(HOOK_TOKEN),
        limits: { webhookRate: { burst: 3, perSecond: 0.5 } },
        now: () => 1_000_000, // the clock stands still: no token comes back during a test
      });
    });

    it('with Authorization: Bearer <token> answers 202 and triggers exactly one reconcile, named registry', async function () {
      const res = await registryHook(h!.base, { authorization: `Bearer ${HOOK_TOKEN}` });
      assert.equal(res.status, 202);
      assert.equal(await res.text(), 'reconcile triggered\n');
      assert.deepEqual(h!.triggers, ['registry']);
    });

    it("with the bare token (a Harbor webhook policy's auth header as configured) answers 202 and reconciles", async function () {
      const res = await registryHook(h!.base, { authorization: HOOK_TOKEN });
      assert.equal(res.status, 202);
      assert.deepEqual(h!.triggers, ['registry']);
    });

    it('without Authorization answers 401, counted as bad-signature, and does not reconcile', async function () {
      const res = await registryHook(h!.base);
      assert.equal(res.status, 401);
      assert.equal(await res.text(), 'missing or wrong Authorization\n');
      assert.deepEqual(h!.triggers, []);
      assert.equal((await refusals(h!))['bad-signature'], 1);
    });

    for (const [name, authorization] of [
      ['a wrong token', 'Bearer registry hook token 5d1d'],
      ['the token under another scheme', `Basic ${HOOK_TOKEN}`],
      ['the token with something after it', `Bearer ${HOOK_TOKEN}x`],
    ] as const) {
      it(`with ${name} answers 401 and does not reconcile`, async function () {
        const res = await registryHook(h!.base, { authorization });
        assert.equal(res.status, 401);
        assert.deepEqual(h!.triggers, []);
      });
    }

    it('is refused with 405 for anything but POST', async function () {
      const res = await fetch(`${h!.base}/hooks/registry`, { headers: { authorization: `Bearer ${HOOK_TOKEN}` } });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      assert.deepEqual(h!.triggers, []);
    });

    it('shares the per-source rate limit with the GitHub webhook: past the burst, 429 with Retry-After and no reconcile', async function () {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await registryHook(h!.base, { authorization: `Bearer ${HOOK_TOKEN}` })).status);
      const limited = await registryHook(h!.base, { authorization: `Bearer ${HOOK_TOKEN}` });
      statuses.push(limited.status);
      assert.deepEqual(statuses, [202, 202, 202, 429]);
      assert.equal(limited.headers.get('retry-after'), '2');
      const github = await fetch(`${h!.base}/hooks/github`, { method: 'POST', body: '{}', headers: { 'x-github-event': 'push' } });
      assert.equal(github.status, 429);
      assert.deepEqual(h!.triggers, ['registry', 'registry', 'registry']);
      assert.equal((await refusals(h!))['rate-limited'], 2);
    });

    it('answers 413 for a body over the webhook limit and does not reconcile', async function () {
      const status = await rawPost(h!.base, '/hooks/registry', Buffer.alloc(MAX_WEBHOOK_BYTES + 1, 0x20), { authorization: `Bearer ${HOOK_TOKEN}` });
      assert.equal(status, 413);
      assert.deepEqual(h!.triggers, []);
      assert.equal((await refusals(h!))['too-large'], 1);
    });
  });
});
