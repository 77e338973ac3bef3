// The routes between a site's agents and their parent (POST /v1/reports, /v1/steering) and the operators' routes
// (GET /v1/status, POST /v1/steer) on a real server on 127.0.0.1: a signed request reaches its callback with the
// parsed body; every refused one gets its status and reaches nothing; and a real uplink round trip.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { httpRequest } from '../../src/host/http.js';
import { signSiteRequest } from '../../src/report/site/signing.js';
import { SiteUplink } from '../../src/report/site/uplink.js';
import type { OperatorRequest } from '../../src/server/site-routes.js';
import { closeServer, raw, startServer, takeProcessFaults, type Harness } from './harness.js';

const TOKENS: Record<string, string> = { 'cn-beijing': 'the token of cn-beijing', 'cn-shanghai': 'the token of cn-shanghai' };
const REPORT = { site: 'cn-beijing', host: 'n1', at: '2025-01-01T00:00:00Z' };
const STEERING = { generation: 3, suspended: { by: 'alice', reason: 'incident 42', at: '2025-01-01T00:00:00Z' } };

type Accepted = { site: string; body: unknown };

/** A receiver that records what it accepted and answers `reply` (by default 200 with a Steering). */
function receiver(reply: () => { status: number; body: object } = () => ({ status: 200, body: { generation: 7 } })) {
  const accepted: Accepted[] = [];
  return {
    accepted,
    tokenFor: (site: string) => TOKENS[site],
    accept: async (site: string, body: unknown) => {
      accepted.push({ site, body });
      return reply();
    },
  };
}

async function post(h: Harness, path: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await httpRequest(`${h.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, timeoutMs: 5000 });
  return { status: res.status, text: await res.text() };
}

function signed(site: string, token: string, body: string, opts: { nowMs?: number; delivery?: string } = {}): Record<string, string> {
  return signSiteRequest(token, site, Buffer.from(body), opts.nowMs ?? Date.now(), opts.delivery ?? randomUUID());
}

async function refusals(h: Harness): Promise<Record<string, number>> {
  const { text } = await raw(h.port, 'GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^mirrornet_http_refused_total\{reason="([a-z-]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

const OVER_4_MIB = 'x'.repeat(4 * 1024 * 1024 + 1);

describe('site routes', function () {
  const servers: Harness[] = [];
  afterEach(async function () {
    for (const s of servers.splice(0)) await closeServer(s.server);
    assert.deepEqual(takeProcessFaults(), [], 'unhandled rejections (each would kill the agent)');
  });
  async function start(...args: Parameters<typeof startServer>): Promise<Harness> {
    const h = await startServer(...args);
    servers.push(h);
    return h;
  }

  it("a signed report reaches accept() with its site and parsed body, and accept()'s answer is the reply", async function () {
    const reports = receiver();
    const h = await start({ reports });
    const body = JSON.stringify(REPORT);
    const res = await post(h, '/v1/reports', body, signed('cn-beijing', TOKENS['cn-beijing']!, body));
    assert.deepEqual(res, { status: 200, text: '{"generation":7}' });
    assert.deepEqual(reports.accepted, [{ site: 'cn-beijing', body: REPORT }]);
  });

  it('a signed steering push reaches the steering receiver, not the reports one', async function () {
    const reports = receiver();
    const steering = receiver(() => ({ status: 202, body: STEERING }));
    const h = await start({ reports, steering });
    const body = JSON.stringify(STEERING);
    const res = await post(h, '/v1/steering', body, signed('cn-beijing', TOKENS['cn-beijing']!, body));
    assert.deepEqual(res, { status: 202, text: JSON.stringify(STEERING) });
    assert.deepEqual(steering.accepted, [{ site: 'cn-beijing', body: STEERING }]);
    assert.deepEqual(reports.accepted, []);
  });

  const body = JSON.stringify(REPORT);
  for (const [name, headers, sent, status, text] of [
    ['signed with another token', () => signed('cn-beijing', 'not the token', body), body, 401, 'bad signature\n'],
    [
      "another site's header with its own token (the body names cn-beijing)",
      () => signed('cn-shanghai', TOKENS['cn-shanghai']!, body),
      body,
      400,
      'the report names another site than the one that signed it\n',
    ],
    [
      'another site named, signed with the token of cn-beijing',
      () => ({ ...signed('cn-beijing', TOKENS['cn-beijing']!, body), 'x-mirrornet-site': 'cn-shanghai' }),
      body,
      401,
      'bad signature\n',
    ],
    ['a site this agent holds no token for', () => signed('ap-singapore', 'whatever', body), body, 401, 'no token for site ap-singapore here\n'],
    [
      'a timestamp 10 minutes old',
      () => signed('cn-beijing', TOKENS['cn-beijing']!, body, { nowMs: Date.now() - 600_000 }),
      body,
      401,
      /^the timestamp is 60\d s from/,
    ],
    [
      'a timestamp 10 minutes ahead',
      () => signed('cn-beijing', TOKENS['cn-beijing']!, body, { nowMs: Date.now() + 600_000 }),
      body,
      401,
      /^the timestamp is 60\d s from/,
    ],
    [
      'a malformed signature',
      () => ({ ...signed('cn-beijing', TOKENS['cn-beijing']!, body), 'x-mirrornet-signature-256': 'sha256=xyz' }),
      body,
      401,
      'missing or malformed X-Mirrornet-Site, -Timestamp, -Delivery or -Signature-256\n',
    ],
    ['no signing headers', () => ({}), body, 401, 'missing or malformed X-Mirrornet-Site, -Timestamp, -Delivery or -Signature-256\n'],
    ['a signed body that is not JSON', () => signed('cn-beijing', TOKENS['cn-beijing']!, '{"site":'), '{"site":', 400, 'the report is not JSON\n'],
    ['a signed body over 4 MiB', () => signed('cn-beijing', TOKENS['cn-beijing']!, OVER_4_MIB), OVER_4_MIB, 413, 'payload too large\n'],
  ] as const) {
    it(`${name}: ${status}, and accept() is not called`, async function () {
      const reports = receiver();
      const h = await start({ reports });
      const res = await post(h, '/v1/reports', sent, headers());
      assert.equal(res.status, status);
      if (typeof text === 'string') assert.equal(res.text, text);
      else assert.match(res.text, text);
      assert.deepEqual(reports.accepted, []);
    });
  }

  it('a replayed delivery is refused (401) and accepted once; refusals are counted by reason', async function () {
    const reports = receiver();
    const h = await start({ reports });
    const headers = signed('cn-beijing', TOKENS['cn-beijing']!, body);
    assert.equal((await post(h, '/v1/reports', body, headers)).status, 200);
    assert.deepEqual(await post(h, '/v1/reports', body, headers), { status: 401, text: `delivery ${headers['x-mirrornet-delivery']} was already received\n` });
    assert.equal(reports.accepted.length, 1);
    assert.equal((await post(h, '/v1/reports', body, {})).status, 401);
    assert.equal((await post(h, '/v1/reports', '[', signed('cn-beijing', TOKENS['cn-beijing']!, '['))).status, 400);
    const big = 'x'.repeat(4 * 1024 * 1024 + 1);
    assert.equal((await post(h, '/v1/reports', big, signed('cn-beijing', TOKENS['cn-beijing']!, big))).status, 413);
    assert.deepEqual(await refusals(h), {
      'rate-limited': 0,
      'too-large': 1,
      busy: 0,
      'bad-signature': 1,
      replayed: 1,
      'connection-cap': 0,
      timeout: 0,
      malformed: 1,
    });
  });

  it('a refusal closes the connection even when the client would keep it open', async function () {
    const reports = receiver();
    const h = await start({ reports });
    const answer = await raw(h.port, `POST /v1/reports HTTP/1.1\r\nHost: agent\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { waitMs: 3000 });
    assert.equal(answer.status, 401);
    assert.equal(answer.closed, true);
    assert.deepEqual(reports.accepted, []);
  });

  it("accept()'s refusal (a body that fails the schema) is its status and body", async function () {
    const reports = receiver(() => ({ status: 400, body: { error: 'host: Required' } }));
    const h = await start({ reports });
    assert.deepEqual(await post(h, '/v1/reports', body, signed('cn-beijing', TOKENS['cn-beijing']!, body)), {
      status: 400,
      text: '{"error":"host: Required"}',
    });
  });

  it('a source past its burst is answered 429 before anything is verified', async function () {
    const reports = receiver();
    const h = await start({ reports, limits: { siteRate: { burst: 1, perSecond: 0.001 } } });
    assert.equal((await post(h, '/v1/reports', body, signed('cn-beijing', TOKENS['cn-beijing']!, body))).status, 200);
    const res = await post(h, '/v1/reports', body, signed('cn-beijing', TOKENS['cn-beijing']!, body));
    assert.equal(res.status, 429);
    assert.equal(reports.accepted.length, 1);
  });

  it('without receivers the routes answer 404; other methods 405', async function () {
    const h = await start();
    const headers = signed('cn-beijing', TOKENS['cn-beijing']!, body);
    assert.equal((await post(h, '/v1/reports', body, headers)).status, 404);
    assert.equal((await post(h, '/v1/steering', body, headers)).status, 404);
    assert.equal((await post(h, '/v1/steer', '{}', {})).status, 404);
    assert.equal((await httpRequest(`${h.base}/v1/status`, { timeoutMs: 5000 })).status, 404);
    assert.equal((await httpRequest(`${h.base}/v1/reports`, { timeoutMs: 5000 })).status, 405);
    assert.equal((await httpRequest(`${h.base}/v1/steer`, { timeoutMs: 5000 })).status, 405);
  });

  describe('operator routes', function () {
    function operator(answer: { status: number; body: object | string }) {
      const seen: OperatorRequest[] = [];
      return {
        seen,
        handle: async (req: OperatorRequest) => {
          seen.push(req);
          return answer;
        },
      };
    }

    it('GET /v1/status hands the method, the path with its query, the headers and the body to handle(), and sends its JSON', async function () {
      const op = operator({ status: 200, body: { core: 'cn-beijing', sites: [] } });
      const h = await start({ operator: op });
      const res = await httpRequest(`${h.base}/v1/status?site=cn-shanghai`, { headers: { 'x-mirrornet-operator-nonce': 'n1' }, timeoutMs: 5000 });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.equal(await res.text(), '{"core":"cn-beijing","sites":[]}');
      assert.equal(op.seen.length, 1);
      assert.equal(op.seen[0]!.method, 'GET');
      assert.equal(op.seen[0]!.path, '/v1/status?site=cn-shanghai');
      assert.equal(op.seen[0]!.headers['x-mirrornet-operator-nonce'], 'n1');
      assert.deepEqual(op.seen[0]!.body, Buffer.alloc(0));
    });

    it('POST /v1/steer passes the raw body; a text answer is sent as text', async function () {
      const op = operator({ status: 401, body: 'the signature is not from an allowed operator\n' });
      const h = await start({ operator: op });
      const steer = '{"site":"cn-shanghai","action":"resume"}';
      assert.deepEqual(await post(h, '/v1/steer', steer, {}), { status: 401, text: 'the signature is not from an allowed operator\n' });
      assert.equal(op.seen[0]!.body.toString(), steer);
      assert.equal(op.seen[0]!.method, 'POST');
    });

    it('a body over 64 KiB is answered 413 and handle() is not called', async function () {
      const op = operator({ status: 202, body: {} });
      const h = await start({ operator: op });
      assert.equal((await post(h, '/v1/steer', 'x'.repeat(65_537), {})).status, 413);
      assert.deepEqual(op.seen, []);
    });

    it('a source past its burst is answered 429 and handle() is not called again', async function () {
      const op = operator({ status: 200, body: {} });
      const h = await start({ operator: op, limits: { operatorRate: { burst: 2, perSecond: 0.001 } } });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await httpRequest(`${h.base}/v1/status`, { timeoutMs: 5000 })).status);
      assert.deepEqual(statuses, [200, 200, 429]);
      assert.equal(op.seen.length, 2);
    });
  });

  describe('uplink → server round trip', function () {
    it('a real uplink posts a report, is tried again after the 503 and gets the Steering back', async function () {
      let calls = 0;
      const reports = receiver(() => (++calls === 1 ? { status: 503, body: { error: 'state being saved' } } : { status: 200, body: STEERING }));
      const h = await start({ reports });
      const waits: number[] = [];
      const uplink = new SiteUplink({
        url: h.base,
        site: 'cn-beijing',
        token: TOKENS['cn-beijing']!,
        request: httpRequest,
        retry: { attempts: 3, baseMs: 10, maxMs: 100, sleep: async (ms) => void waits.push(ms) },
      });
      const answer = await uplink.post('/v1/reports', REPORT);
      assert.deepEqual(answer, { status: 200, json: STEERING });
      assert.deepEqual(reports.accepted, [
        { site: 'cn-beijing', body: REPORT },
        { site: 'cn-beijing', body: REPORT },
      ]);
      assert.equal(waits.length, 1);
    });

    it('an uplink with the wrong token gets the 401 at once, and nothing is accepted', async function () {
      const reports = receiver();
      const h = await start({ reports });
      const uplink = new SiteUplink({ url: h.base, site: 'cn-beijing', token: 'an old token', request: httpRequest, retry: { sleep: async () => undefined } });
      assert.deepEqual(await uplink.post('/v1/reports', REPORT), { status: 401, text: 'bad signature\n' });
      assert.deepEqual(reports.accepted, []);
    });
  });
});
