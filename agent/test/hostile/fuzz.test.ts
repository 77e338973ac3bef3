// Random requests over raw sockets against a real agent server, for a fixed number of runs: whatever arrives, the
// server keeps answering /healthz, nothing without a valid signature triggers a reconcile, and memory stays bounded.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { closeServer, healthStatus, raw, SECRET, sign, startServer, takeProcessFaults, type Harness } from '../server/harness.js';

const RUNS = 1000;

const method = fc.oneof(
  fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'PRI', 'BREW', 'get', ''),
  fc.string({ maxLength: 8 }),
);
const target = fc.oneof(
  fc.constantFrom(
    '/hooks/github',
    '/healthz',
    '/readyz',
    '/metrics',
    '/',
    '*',
    'http://[::1',
    '%zz',
    '/a\0b',
    'http://agent/hooks/github',
    '//x',
    '/hooks/github?a#b',
  ),
  fc.string({ maxLength: 40 }),
  fc.webUrl(),
);
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x', '');
const headerName = fc.oneof(
  fc.constantFrom(
    'Host',
    'Content-Length',
    'Transfer-Encoding',
    'X-Hub-Signature-256',
    'X-GitHub-Event',
    'X-GitHub-Delivery',
    'Connection',
    'Expect',
    'Upgrade',
  ),
  fc.string({ maxLength: 20 }),
);
const headerValue = fc.oneof(
  fc.constantFrom('push', 'ping', 'chunked', 'close', 'keep-alive', '100-continue', 'websocket', '-1', '0', '99999999', '1048577', 'sha256=', '0x10'),
  fc.stringMatching(/^sha256=[0-9a-f]{64}$/),
  fc.string({ maxLength: 60 }),
  fc.nat({ max: 5000 }).map(String),
);
const request = fc.record({
  method,
  target,
  version,
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }),
  body: fc.uint8Array({ maxLength: 2048 }),
  halfClose: fc.boolean(),
});

type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

function bytesOf(r: FuzzRequest): Buffer {
  const head = `${r.method} ${r.target} ${r.version}\r\n${r.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(r.body)]);
}

describe('agent HTTP server fuzzed over raw sockets', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async function () {
    h = await startServer({
      limits: {
        headersTimeoutMs: 200,
        requestTimeoutMs: 400,
        keepAliveTimeoutMs: 200,
        socketTimeoutMs: 500,
        // The fuzz comes from one address; the rate limit is tested on its own.
        webhookRate: { burst: 1_000_000, perSecond: 1_000_000 },
      },
    });
  });
  after(async function () {
    await closeServer(h.server);
  });

  it(`${RUNS} random requests: the server keeps answering, nothing unsigned reconciles, memory stays bounded`, async function () {
    const heapBefore = process.memoryUsage().heapUsed;
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        await raw(h.port, bytesOf(r), { end: r.halfClose, waitMs: 100 });
        assert.deepEqual(takeProcessFaults(), [], 'unhandled rejections (each would kill the agent)');
        assert.equal(await healthStatus(h.port), 200, 'the server still answers /healthz');
        assert.deepEqual(h.triggers, [], 'no reconcile without a valid signature');
      }),
      { numRuns: RUNS },
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 15_000, `the fuzz took ${elapsed} ms`);
    const growth = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(growth < 64 * 1024 * 1024, `heap grew by ${growth} bytes`);

    // Every connection the fuzz opened is gone within a few seconds (nothing held open by a half-read request).
    let open = -1;
    for (let i = 0; i < 30 && open !== 0; i++) {
      open = await new Promise<number>((resolve) => h.server.getConnections((_err, n) => resolve(n)));
      if (open !== 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(open, 0, 'open connections after the fuzz');

    // And a genuine webhook still works.
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const headers = `X-GitHub-Event: push\r\nX-Hub-Signature-256: ${sign(SECRET, body)}\r\nContent-Length: ${body.length}\r\n`;
    const push = `POST /hooks/github HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n${headers}\r\n${body}`;
    assert.equal((await raw(h.port, push)).status, 202);
    assert.deepEqual(h.triggers, ['webhook']);
  });
});
