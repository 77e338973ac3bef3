// host/http.ts's httpFetch: fetch's shape on node:http for octokit and the chat notifiers, so that neither loads
// fetch's implementation (undici) into a long-running agent. What those libraries read of an answer must be there.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpFetch, httpRequest } from '../../src/host/http.js';

describe('httpFetch (fetch on node:http)', () => {
  let server: http.Server;
  let base: string;
  const seen: { method?: string; body: string; type?: string }[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method, body, ...(req.headers['content-type'] ? { type: req.headers['content-type'] } : {}) });
        if (req.url === '/moved') {
          res.writeHead(302, { location: '/json' });
          res.end();
        } else if (req.url === '/slow') {
          setTimeout(() => res.end('late'), 1000);
        } else {
          res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'r-1', link: '<http://x/?page=2>; rel="next"' });
          res.end('{"id":7,"name":"ünï"}');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('sends method, headers and a string body; answers status, url, headers (get and iterable), text, json and bytes', async () => {
    const res = await httpFetch(`${base}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' }, 5000);
    assert.equal(res.status, 201);
    assert.equal(res.ok, true);
    assert.equal(res.url, `${base}/json`);
    assert.equal(res.headers.get('X-Request-Id'), 'r-1');
    const all = Object.fromEntries(res.headers as unknown as Iterable<[string, string]>);
    assert.equal(all['link'], '<http://x/?page=2>; rel="next"');
    assert.equal(all['content-type'], 'application/json');
    assert.equal(await res.text(), '{"id":7,"name":"ünï"}');
    assert.deepEqual(await res.json(), { id: 7, name: 'ünï' });
    assert.equal(Buffer.from(await res.arrayBuffer()).toString('utf8'), '{"id":7,"name":"ünï"}');
    assert.deepEqual(seen.at(-1), { method: 'POST', body: '{"a":1}', type: 'application/json' });
  });

  it('keeps credentials with the first host: a redirect to another host drops Authorization and Cookie in any case', async () => {
    const other = http.createServer((req, res) =>
      res.end(JSON.stringify({ authorization: req.headers['authorization'] ?? null, cookie: req.headers['cookie'] ?? null })),
    );
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const to = `http://127.0.0.1:${(other.address() as AddressInfo).port}/seen`;
    const redirector = http.createServer((_req, res) => {
      res.writeHead(307, { location: to });
      res.end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const from = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/api`;
      const res = await httpRequest(from, {
        method: 'GET',
        headers: { Authorization: 'SDK-HMAC-SHA256 Access=ak, Signature=s', Cookie: 'sid=1' },
        timeoutMs: 5000,
      });
      assert.deepEqual(await res.json(), { authorization: null, cookie: null });
    } finally {
      other.close();
      redirector.close();
    }
  });

  it("follows a redirect, or with redirect: 'manual' answers it as it is", async () => {
    assert.equal((await httpFetch(`${base}/moved`, {}, 5000)).status, 201);
    const manual = await httpFetch(`${base}/moved`, { redirect: 'manual' }, 5000);
    assert.equal(manual.status, 302);
    assert.equal(manual.headers.get('location'), '/json');
  });

  it("fails with the signal's reason when its signal ends it, as fetch does (a TimeoutError for AbortSignal.timeout)", async () => {
    await assert.rejects(httpFetch(`${base}/slow`, { signal: AbortSignal.timeout(100) }, 5000), (e: Error) => e.name === 'TimeoutError');
    await assert.rejects(httpFetch(`${base}/slow`, {}, 100), (e: Error) => e.name === 'TimeoutError' && /no answer within 100 ms/.test(e.message));
  });

  it('refuses a body that is not a string instead of sending something else', async () => {
    await assert.rejects(httpFetch(`${base}/json`, { method: 'POST', body: new Uint8Array([1]) }, 5000), /string body only/);
  });
});
