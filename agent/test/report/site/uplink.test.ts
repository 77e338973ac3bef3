// The signed client of reports and steering pushes, against a scripted HTTP client: what it sends, what it tries
// again (a network failure, 5xx, 429) and what it never does (retry a 4xx, send an oversized body, log the token).
import assert from 'node:assert/strict';
import { MirrornetError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { verifySiteRequest } from '../../../src/report/site/signing.js';
import { SiteUplink, type UplinkRequest } from '../../../src/report/site/uplink.js';
import { RecentDeliveries } from '../../../src/server/guards.js';

const TOKEN = 'a site token';
const NOW_MS = 1_700_000_000_000;
const IDS = ['0b8a2f4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b', '1c9b3f5a-4d2e-4f6a-8b7c-8d9e0f1a2b3c', '2dac4a6b-5e3f-4a7b-9c8d-9e0f1a2b3c4d'];

type Sent = { url: string; headers: Record<string, string>; body: string; timeoutMs: number };
type Scripted = { status: number; body?: string; headers?: Record<string, string> } | Error;

/** An HTTP client that answers from `script` in order and records each request. */
function scripted(script: Scripted[]): { request: UplinkRequest; sent: Sent[] } {
  const sent: Sent[] = [];
  const request: UplinkRequest = async (url, init) => {
    sent.push({ url, headers: init.headers, body: init.body.toString('utf8'), timeoutMs: init.timeoutMs });
    const next = script.shift();
    if (!next) throw new Error('no more answers scripted');
    if (next instanceof Error) throw next;
    const chunks = next.body === undefined ? [] : [Buffer.from(next.body)];
    const headers = next.headers ?? {};
    return {
      status: next.status,
      headers: { get: (name: string) => headers[name.toLowerCase()] ?? null },
      body: Object.assign(
        (async function* () {
          yield* chunks;
        })(),
        { cancel: async () => undefined },
      ),
    };
  };
  return { request, sent };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:9090'), { code: 'ECONNREFUSED' });

function uplink(request: UplinkRequest, waits: number[] = [], extra: { log?: ReturnType<typeof createLogger> } = {}): SiteUplink {
  let id = 0;
  return new SiteUplink({
    url: 'http://gw.cn-beijing:9090/',
    site: 'cn-beijing',
    token: TOKEN,
    request,
    now: () => NOW_MS,
    deliveryId: () => IDS[id++]!,
    retry: { attempts: 3, baseMs: 1000, maxMs: 10_000, random: () => 0, sleep: async (ms) => void waits.push(ms) },
    ...extra,
  });
}

describe('site uplink', function () {
  it('posts the JSON body to the path under the base URL, signed for its site, and returns the JSON answer', async function () {
    const { request, sent } = scripted([{ status: 200, body: '{"generation":4}', headers: { 'content-type': 'application/json' } }]);
    const answer = await uplink(request).post('/v1/reports', { site: 'cn-beijing' });
    assert.deepEqual(answer, { status: 200, json: { generation: 4 } });
    assert.deepEqual(sent, [
      {
        url: 'http://gw.cn-beijing:9090/v1/reports',
        body: '{"site":"cn-beijing"}',
        timeoutMs: 10_000,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'mirrornet/0.2.0',
          'x-mirrornet-site': 'cn-beijing',
          'x-mirrornet-timestamp': '1700000000',
          'x-mirrornet-delivery': '0b8a2f4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b',
          // printf '%s' '1700000000.0b8a2f4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b.{"site":"cn-beijing"}' | openssl dgst -sha256 -hmac 'a site token'
          'x-mirrornet-signature-256': 'sha256=474c73295035d0d72ef07dbe9cdd729557e6bf3c214bd2eb6b955642593c97e4',
        },
      },
    ]);
  });

  it('tries a 503 again with a fresh delivery id, each attempt signed, and returns the success; the token is never logged', async function () {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const { request, sent } = scripted([
      { status: 503, body: 'busy\n' },
      { status: 202, body: '{"generation":5}', headers: { 'content-type': 'application/json' } },
    ]);
    const waits: number[] = [];
    const answer = await uplink(request, waits, { log }).post('/v1/reports', { site: 'cn-beijing' });
    assert.deepEqual(answer, { status: 202, json: { generation: 5 } });
    assert.deepEqual(
      sent.map((s) => s.headers['x-mirrornet-delivery']),
      ['0b8a2f4e-3c1d-4e5f-9a6b-7c8d9e0f1a2b', '1c9b3f5a-4d2e-4f6a-8b7c-8d9e0f1a2b3c'],
    );
    const replay = new RecentDeliveries(600_000, () => NOW_MS);
    for (const s of sent) {
      assert.equal(
        verifySiteRequest(s.headers, Buffer.from(s.body), () => TOKEN, NOW_MS, replay).ok,
        true,
        'each attempt verifies (and is no replay of the last)',
      );
    }
    assert.deepEqual(waits, [500]);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /site request failed; trying again/);
    assert.match(lines[0]!, /"status":503/);
    assert.doesNotMatch(lines.join(''), /a site token/);
  });

  it('a 429 waits at least its Retry-After before the next attempt', async function () {
    const { request } = scripted([{ status: 429, headers: { 'retry-after': '7' } }, { status: 200 }]);
    const waits: number[] = [];
    assert.equal((await uplink(request, waits).post('/v1/steering', { generation: 1 })).status, 200);
    assert.deepEqual(waits, [7000]);
  });

  for (const status of [400, 401, 404, 413]) {
    it(`a ${status} is not tried again: the answer is the caller's`, async function () {
      const { request, sent } = scripted([{ status, body: 'bad signature\n' }, { status: 200 }]);
      const waits: number[] = [];
      assert.deepEqual(await uplink(request, waits).post('/v1/reports', { site: 'cn-beijing' }), { status, text: 'bad signature\n' });
      assert.equal(sent.length, 1);
      assert.deepEqual(waits, []);
    });
  }

  it('a network failure is tried again; when no attempt gets an answer, a sentence says which agent could not be reached', async function () {
    const { request, sent } = scripted([refused(), refused(), refused()]);
    const waits: number[] = [];
    await assert.rejects(uplink(request, waits).post('/v1/reports', { site: 'cn-beijing' }), (err: unknown) => {
      assert.ok(err instanceof MirrornetError);
      assert.equal(
        err.userMessage,
        'Cannot reach the agent at http://gw.cn-beijing:9090/v1/reports: the connection was refused (nothing listens on that port). ' +
          'Check that the agent runs there and that the address and port are right.',
      );
      return true;
    });
    assert.equal(sent.length, 3);
    assert.deepEqual(new Set(sent.map((s) => s.headers['x-mirrornet-delivery'])).size, 3);
    assert.deepEqual(waits, [500, 1000]);
  });

  it('5xx on every attempt: the last answer is returned', async function () {
    const { request, sent } = scripted([{ status: 502 }, { status: 500 }, { status: 503, body: 'busy\n' }]);
    assert.deepEqual(await uplink(request).post('/v1/reports', { site: 'cn-beijing' }), { status: 503, text: 'busy\n' });
    assert.equal(sent.length, 3);
  });

  it('an error that is no network failure ends the attempts at once', async function () {
    const { request, sent } = scripted([new TypeError('Invalid URL'), { status: 200 }]);
    await assert.rejects(uplink(request).post('/v1/reports', { site: 'cn-beijing' }), /Invalid URL/);
    assert.equal(sent.length, 1);
  });

  it('a body over 4 MiB is refused before anything is sent', async function () {
    const { request, sent } = scripted([{ status: 200 }]);
    await assert.rejects(uplink(request).post('/v1/reports', { site: 'cn-beijing', padding: 'x'.repeat(4 * 1024 * 1024) }), (err: unknown) => {
      assert.ok(err instanceof MirrornetError);
      assert.match(
        err.userMessage,
        /^The request to http:\/\/gw\.cn-beijing:9090\/v1\/reports is 4097 KiB, more than the 4096 KiB an agent accepts; it was not sent\./,
      );
      return true;
    });
    assert.deepEqual(sent, []);
  });
});
