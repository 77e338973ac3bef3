// An operator sees an attack: every request or connection the agent endpoint refuses is counted by reason in
// /metrics (mirrornet_http_refused_total), on a real server on 127.0.0.1 sent raw bytes from several local addresses.
import assert from 'node:assert/strict';
import net from 'node:net';
import { closeServer, raw, SECRET, sign, startServer, takeProcessFaults, type Harness } from './harness.js';

const WELL_FORMED_BAD_SIGNATURE = `sha256=${'0'.repeat(64)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function post(headers: string, body = ''): string {
  return `POST /hooks/github HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n${headers}\r\n${body}`;
}

async function hold(h: Harness, bytes: string, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const socket = net.connect({ port: h.port, host: '127.0.0.1', localAddress });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(bytes);
  return socket;
}

/** The refusal counter's lines in /metrics, by reason (on a connection closed after it: none is left open to count against the cap). */
async function refusals(h: Harness): Promise<Record<string, number>> {
  const { text } = await raw(h.port, 'GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^mirrornet_http_refused_total\{reason="([a-z-]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('agent HTTP server refusal counters', function () {
  const servers: Harness[] = [];
  afterEach(async function () {
    assert.deepEqual(takeProcessFaults(), [], 'unhandled rejections (each would kill the agent)');
    for (const s of servers.splice(0)) await closeServer(s.server);
  });

  it('every reason starts at 0 and counts refusals: rate limit, sizes, busy, signatures, replays, malformed requests, the connection cap', async function () {
    const h = await startServer({ limits: { webhookRate: { burst: 2, perSecond: 1 }, maxBodyReads: 1, maxConnections: 3 }, now: () => 1_000_000 });
    servers.push(h);
    assert.deepEqual(await refusals(h), {
      'rate-limited': 0,
      'too-large': 0,
      busy: 0,
      'bad-signature': 0,
      replayed: 0,
      'connection-cap': 0,
      timeout: 0,
      malformed: 0,
    });

    // 127.0.0.1: two bad signatures (the burst), then the rate limit.
    const flood = [
      (await raw(h.port, post('Content-Length: 2\r\n', '{}'))).status,
      (await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 2\r\n`, '{}'))).status,
      (await raw(h.port, post('Content-Length: 2\r\n', '{}'))).status,
    ];
    assert.deepEqual(flood, [401, 401, 429]);
    // 127.0.0.2: a body declared too large; a signed push, then the same delivery again from 127.0.0.3.
    const big = await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 2000000\r\n`, 'a'), { localAddress: '127.0.0.2' });
    assert.equal(big.status, 413);
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const push = post(
      `X-GitHub-Event: push\r\nX-GitHub-Delivery: d-1\r\nX-Hub-Signature-256: ${sign(SECRET, body)}\r\nContent-Length: ${body.length}\r\n`,
      body,
    );
    assert.equal((await raw(h.port, push, { localAddress: '127.0.0.2' })).status, 202);
    assert.equal((await raw(h.port, push, { localAddress: '127.0.0.3' })).status, 200);
    // Headers too large, a target that is not a URL.
    assert.equal((await raw(h.port, `GET /healthz HTTP/1.1\r\nHost: agent\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`)).status, 431);
    assert.equal((await raw(h.port, 'GET http://[::1 HTTP/1.1\r\nHost: agent\r\n\r\n')).status, 400);
    // Busy: one webhook body is being received (the most allowed), another webhook arrives.
    const slow = await hold(h, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 1000\r\n`, 'abc'), '127.0.0.4');
    await sleep(100);
    assert.equal(
      (await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 2\r\n`, '{}'), { localAddress: '127.0.0.5' })).status,
      503,
    );
    slow.destroy();
    await sleep(100);
    // The connection cap: three connections held open, a fourth is dropped.
    const held = await Promise.all([1, 2, 3].map(() => hold(h, 'GET /healthz HTTP/1.1\r\n')));
    const dropped = await raw(h.port, 'GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n');
    assert.deepEqual([dropped.status, dropped.closed], [0, true]);
    for (const s of held) s.destroy();
    await sleep(100);

    assert.deepEqual(await refusals(h), {
      'rate-limited': 1,
      'too-large': 2,
      busy: 1,
      'bad-signature': 2,
      replayed: 1,
      'connection-cap': 1,
      timeout: 0,
      malformed: 1,
    });
    assert.deepEqual(h.triggers, ['webhook'], 'the replayed delivery did not reconcile again');
  });

  it('a client that never finishes its headers counts as a timeout', async function () {
    const h = await startServer({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300, socketTimeoutMs: 1000 } });
    servers.push(h);
    const answer = await raw(h.port, 'GET /healthz HTTP/1.1\r\nHost: agent\r\n');
    assert.equal(answer.status, 408);
    assert.equal((await refusals(h))['timeout'], 1);
  });

  it('/healthz answers 503 with the reason the agent gives', async function () {
    const h = await startServer();
    servers.push(h);
    const ok = await fetch(`${h.base}/healthz`);
    assert.deepEqual([ok.status, await ok.text()], [200, 'ok\n']);
    h.flags.healthy = false;
    const stalled = await fetch(`${h.base}/healthz`);
    assert.deepEqual([stalled.status, await stalled.text()], [503, 'hook dragonfly-restart running for 93 s\n']);
  });
});
