// The webhook port is reachable and the agent runs as root: a corpus of hostile requests, each sent as raw bytes to a
// real server on 127.0.0.1, each with the status (or clean close) it must get, and the server still answering after.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { closeServer, healthStatus, raw, SECRET, sign, startServer, takeProcessFaults, type Harness } from '../server/harness.js';

/** Short timeouts, so slow clients are cut off within the test. */
const SHORT = { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300, socketTimeoutMs: 1000 };
const WELL_FORMED_BAD_SIGNATURE = `sha256=${'0'.repeat(64)}`;

function post(headers: string, body = ''): string {
  return `POST /hooks/github HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n${headers}\r\n${body}`;
}

/** Opens a connection, sends `bytes` and leaves it open (a client that never finishes). */
async function hold(port: number, bytes: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(bytes);
  return socket;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('agent HTTP server under hostile input', function () {
  let h: Harness;
  beforeEach(async function () {
    h = await startServer({ limits: SHORT });
  });
  afterEach(async function () {
    assert.deepEqual(takeProcessFaults(), [], 'unhandled rejections (each would kill the agent)');
    assert.equal(await healthStatus(h.port), 200, 'the server still answers /healthz');
    assert.deepEqual(h.triggers, [], 'nothing unsigned triggers a reconcile');
    await closeServer(h.server);
  });

  for (const [name, request, status] of [
    ['an absolute-form target that is not a URL (http://[::1)', 'GET http://[::1 HTTP/1.1\r\nHost: agent\r\n\r\n', 400],
    ['a target that is neither a path nor a URL (%zz)', 'GET %zz HTTP/1.1\r\nHost: agent\r\n\r\n', 400],
    ['an asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: agent\r\n\r\n', 400],
    ['a NUL in the path', 'GET /heal\0thz HTTP/1.1\r\nHost: agent\r\n\r\n', 400],
    ['an absolute-form URL to a known path', 'GET http://agent/healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n', 200],
    ['an absolute-form POST to the webhook without a signature', 'POST http://agent/hooks/github HTTP/1.1\r\nHost: agent\r\n\r\n', 401],
    ['a 20 KiB header', `GET /healthz HTTP/1.1\r\nHost: agent\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431],
    ['an unknown method', 'BREW /healthz HTTP/1.1\r\nHost: agent\r\n\r\n', 400],
    ['a GET to the webhook', 'GET /hooks/github HTTP/1.1\r\nHost: agent\r\n\r\n', 405],
    ['a DELETE of /healthz', 'DELETE /healthz HTTP/1.1\r\nHost: agent\r\n\r\n', 404],
    ['a TLS client hello', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 400],
    ['an HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400],
    ['a bad chunk size', post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nTransfer-Encoding: chunked\r\n`, 'zz\r\n'), 400],
    [
      'both Content-Length and chunked',
      post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n`, '0\r\n\r\n'),
      400,
    ],
    ['a signature that is not hex', post('X-Hub-Signature-256: sha256=zz\r\nContent-Length: 2\r\n', '{}'), 401],
    ['two signature headers', post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nX-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\n`), 401],
  ] as const) {
    it(`${name}: ${status} and the connection closed`, async function () {
      const answer = await raw(h.port, request);
      assert.equal(answer.status, status, answer.text.slice(0, 200));
      assert.equal(answer.closed, true);
    });
  }

  it('200 headers: the extra ones are dropped and the request is answered (200)', async function () {
    const headers = Array.from({ length: 200 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const answer = await raw(h.port, `GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n${headers}\r\n`);
    assert.equal(answer.status, 200);
  });

  it('a CONNECT request is closed without an answer', async function () {
    const answer = await raw(h.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n');
    assert.deepEqual([answer.status, answer.closed], [0, true]);
  });

  it('an unsigned POST declaring 10 MB is answered 401 at once, without waiting for (or keeping) the body', async function () {
    const answer = await raw(h.port, post('Content-Length: 10000000\r\n', 'a'.repeat(64 * 1024)));
    assert.deepEqual([answer.status, answer.closed], [401, true]);
    assert.ok(answer.ms < 1500, `answered after ${answer.ms} ms`);
  });

  it('a signed-looking POST declaring more than 1 MiB is answered 413 before its body', async function () {
    const answer = await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 2000000\r\n`, 'a'.repeat(1024)));
    assert.deepEqual([answer.status, answer.closed], [413, true]);
    assert.ok(answer.ms < 1500, `answered after ${answer.ms} ms`);
  });

  it('a chunked body that grows past 1 MiB is answered 413 and the connection closed', async function () {
    const chunk = `100000\r\n${'a'.repeat(0x100000)}\r\n`;
    const answer = await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nTransfer-Encoding: chunked\r\n`, chunk + chunk));
    assert.deepEqual([answer.status, answer.closed], [413, true]);
  });

  it('a body cut short (the client half-closes) is answered 400 and closed', async function () {
    const answer = await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 100\r\n`, 'a'.repeat(50)), { end: true });
    assert.deepEqual([answer.status, answer.closed], [400, true]);
  });

  it('a client that never finishes its headers gets 408 and is cut off by headersTimeout', async function () {
    const answer = await raw(h.port, 'GET /healthz HTTP/1.1\r\nHost: agent\r\n');
    assert.deepEqual([answer.status, answer.closed], [408, true]);
    assert.ok(answer.ms < 1500, `cut off after ${answer.ms} ms`);
  });

  it('a client that never finishes its body gets 408 and is cut off by requestTimeout', async function () {
    const answer = await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 1000\r\n`, '0123456789'));
    assert.deepEqual([answer.status, answer.closed], [408, true]);
    assert.ok(answer.ms < 2000, `cut off after ${answer.ms} ms`);
  });

  it('a client dripping its headers a byte at a time is cut off', async function () {
    const socket = await hold(h.port, 'G');
    let closedAt = 0;
    const started = Date.now();
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('end', () => (closedAt ||= Date.now()));
    socket.on('close', () => (closedAt ||= Date.now()));
    for (const byte of 'ET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') {
      if (closedAt || socket.destroyed) break;
      socket.write(byte);
      await sleep(50);
    }
    await sleep(200);
    socket.destroy();
    assert.ok(closedAt > 0, 'the server closed the connection');
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(closedAt - started < 1500, `cut off after ${closedAt - started} ms`);
  });

  it('a connection that sends nothing, and an idle keep-alive connection, are closed within seconds', async function () {
    const silent = await raw(h.port, '');
    assert.equal(silent.closed, true);
    assert.ok(silent.ms < 2000, `closed after ${silent.ms} ms`);
    const idle = await raw(h.port, 'GET /healthz HTTP/1.1\r\nHost: agent\r\n\r\n');
    assert.deepEqual([idle.status, idle.closed], [200, true]);
    assert.ok(idle.ms < 2000, `closed after ${idle.ms} ms`);
  });

  it('a handler error answers 500 with a generic body (no message, no stack) and logs it', async function () {
    const lines: string[] = [];
    const registry = new Registry();
    registry.metrics = () => Promise.reject(new Error(`boom ${SECRET}`));
    const failing = await startServer({
      log: createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } }),
      registry,
      health: () => {
        throw new Error(`health ${SECRET}`);
      },
    });
    try {
      for (const path of ['/metrics', '/healthz']) {
        const answer = await raw(failing.port, `GET ${path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n`);
        assert.equal(answer.status, 500);
        assert.match(answer.text, /\r\n\r\ninternal error\n$/);
        assert.doesNotMatch(answer.text, /secret|boom|at /);
      }
      assert.equal(lines.filter((l) => (JSON.parse(l) as { msg: string }).msg === 'request failed').length, 2);
      assert.equal((await raw(failing.port, 'GET /readyz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n')).status, 503, 'still answering');
    } finally {
      await closeServer(failing.server);
    }
  });
});

describe('agent HTTP server limits', function () {
  const servers: Harness[] = [];
  const start = async (...args: Parameters<typeof startServer>) => {
    const started = await startServer(...args);
    servers.push(started);
    return started;
  };
  afterEach(async function () {
    assert.deepEqual(takeProcessFaults(), [], 'unhandled rejections (each would kill the agent)');
    for (const s of servers.splice(0)) {
      assert.equal(await healthStatus(s.port), 200, 'the server still answers /healthz');
      await closeServer(s.server);
    }
  });

  it('a flood of webhooks from one address gets 429 with Retry-After past the burst; other addresses and /healthz are not limited', async function () {
    const clock = { now: 1_000_000 };
    const h = await start({ limits: { webhookRate: { burst: 5, perSecond: 1 } }, now: () => clock.now });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await raw(h.port, post('Content-Length: 2\r\n', '{}'))).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    const limited = await raw(h.port, post('Content-Length: 2\r\n', '{}'));
    assert.match(limited.text, /^HTTP\/1\.1 429 .*\r\nretry-after: 1\r\n/is);
    assert.equal((await raw(h.port, post('Content-Length: 2\r\n', '{}'), { localAddress: '127.0.0.2' })).status, 401, 'another address');
    assert.equal(await healthStatus(h.port), 200);
    clock.now += 2000;
    const refilled: number[] = [];
    for (let i = 0; i < 3; i++) refilled.push((await raw(h.port, post('Content-Length: 2\r\n', '{}'))).status);
    assert.deepEqual(refilled, [401, 401, 429], 'two seconds refill two requests');
    assert.deepEqual(h.triggers, []);
  });

  it('a repeated delivery id is acknowledged (200) without a second reconcile, until the window has passed', async function () {
    const clock = { now: 1_000_000 };
    const h = await start({ limits: { deliveryWindowMs: 60_000 }, now: () => clock.now });
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const send = (delivery: string) =>
      raw(
        h.port,
        post(
          `X-GitHub-Event: push\r\nX-GitHub-Delivery: ${delivery}\r\nX-Hub-Signature-256: ${sign(SECRET, body)}\r\nContent-Length: ${body.length}\r\n`,
          body,
        ),
      );
    const id = '72d3162e-cc78-11e3-81ab-4c9367dc0958';
    const statuses = [(await send(id)).status, (await send(id)).status, (await send(id)).status];
    assert.deepEqual(statuses, [202, 200, 200]);
    assert.deepEqual(h.triggers, ['webhook']);
    assert.equal((await send('another-delivery')).status, 202);
    assert.deepEqual(h.triggers, ['webhook', 'webhook']);
    clock.now += 61_000;
    assert.equal((await send(id)).status, 202, 'after the window the id is new again');
    assert.deepEqual(h.triggers, ['webhook', 'webhook', 'webhook']);
  });

  it('past maxConnections new connections are closed at once; once the others go, the server answers again', async function () {
    const h = await start({ limits: { maxConnections: 3 } });
    const held = await Promise.all([1, 2, 3].map(() => hold(h.port, 'GET /healthz HTTP/1.1\r\n')));
    const refused = await raw(h.port, 'GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n');
    assert.deepEqual([refused.status, refused.closed], [0, true]);
    for (const s of held) s.destroy();
    await sleep(100);
  });

  it('past maxBodyReads webhook bodies being received, another webhook answers 503 with Retry-After', async function () {
    const h = await start({ limits: { maxBodyReads: 2 } });
    const slow = post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 1000\r\n`, 'abc');
    const held = [await hold(h.port, slow), await hold(h.port, slow)];
    await sleep(100);
    const busy = await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 2\r\n`, '{}'));
    assert.equal(busy.status, 503);
    assert.match(busy.text, /\r\nretry-after: 1\r\n/i);
    for (const s of held) s.destroy();
    await sleep(100);
    assert.equal((await raw(h.port, post(`X-Hub-Signature-256: ${WELL_FORMED_BAD_SIGNATURE}\r\nContent-Length: 2\r\n`, '{}'))).status, 401);
    assert.deepEqual(h.triggers, []);
  });
});
