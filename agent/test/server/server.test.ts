// The agent's HTTP endpoint: the GitHub webhook (HMAC-SHA256 over the raw body), health, readiness and
// Prometheus metrics; in process, and end to end with the CLI agent following a real git origin.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { MAX_WEBHOOK_BYTES } from '../../src/server/index.js';
import { agentArgs, createGitFixture, HARBOR_TOML, killChildren, REGION_FILE, startCli, waitFor, type GitFixture } from '../reconcile/git-fixture.js';
import { closeServer, healthStatus, hook, raw, SECRET, sign, startServer, takeProcessFaults, type Harness } from './harness.js';

const pushMain = JSON.stringify({ ref: 'refs/heads/main', after: 'deadbeef', repository: { full_name: 'example/fleet' } });

/** POST a body with node:http and resolve with the status, even if the server closes the connection after answering. */
function rawPost(base: string, path: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    let answered = false;
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...headers, 'content-length': String(body.length) } },
      (res) => {
        answered = true;
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!answered) reject(new Error(`the server closed the connection without an HTTP response (${err.code ?? err.message})`));
    });
    req.end(body);
  });
}

describe('agent HTTP server (in process)', function () {
  let h: Harness;
  beforeEach(async function () {
    h = await startServer();
  });
  afterEach(async function () {
    await closeServer(h.server);
    assert.deepEqual(takeProcessFaults(), [], 'unhandled rejections (each would kill the agent)');
  });

  it('a push to main with a valid X-Hub-Signature-256 answers 202 and triggers one reconcile', async function () {
    const res = await hook(h.base, pushMain, { 'x-github-event': 'push', 'x-github-delivery': '1', 'x-hub-signature-256': sign(SECRET, pushMain) });
    assert.equal(res.status, 202);
    assert.match(await res.text(), /triggered/);
    assert.deepEqual(h.triggers, ['webhook']);
  });

  for (const [name, headers] of [
    ['a bad signature', { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }],
    ['a malformed signature', { 'x-hub-signature-256': 'sha256=not-hex' }],
    ['a missing signature', {}],
    ['a SHA-1 signature only', { 'x-hub-signature': `sha1=${createHmac('sha1', SECRET).update(pushMain).digest('hex')}` }],
    ['a signature made with another secret', { 'x-hub-signature-256': sign('another secret', pushMain) }],
    ['a valid signature of another body', { 'x-hub-signature-256': sign(SECRET, pushMain.replace('deadbeef', 'feedface')) }],
  ] as const) {
    it(`${name}: 401 and no reconcile`, async function () {
      const res = await hook(h.base, pushMain, { 'x-github-event': 'push', ...headers });
      assert.equal(res.status, 401);
      assert.deepEqual(h.triggers, []);
    });
  }

  it('a push to another branch is acknowledged (202) and ignored', async function () {
    const body = JSON.stringify({ ref: 'refs/heads/feature' });
    const res = await hook(h.base, body, { 'x-github-event': 'push', 'x-hub-signature-256': sign(SECRET, body) });
    assert.equal(res.status, 202);
    assert.match(await res.text(), /ignored/);
    assert.deepEqual(h.triggers, []);
    const tag = JSON.stringify({ ref: 'refs/tags/main' });
    const res2 = await hook(h.base, tag, { 'x-github-event': 'push', 'x-hub-signature-256': sign(SECRET, tag) });
    assert.equal(res2.status, 202);
    assert.deepEqual(h.triggers, [], 'a tag named main is not the branch');
  });

  it('ping answers 200; other events 202 without a reconcile', async function () {
    const ping = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    const res = await hook(h.base, ping, { 'x-github-event': 'ping', 'x-hub-signature-256': sign(SECRET, ping) });
    assert.equal(res.status, 200);
    const issue = JSON.stringify({ action: 'opened' });
    const res2 = await hook(h.base, issue, { 'x-github-event': 'issues', 'x-hub-signature-256': sign(SECRET, issue) });
    assert.equal(res2.status, 202);
    assert.deepEqual(h.triggers, []);
  });

  it('a body over 1 MiB answers 413 without a reconcile', async function () {
    const big = Buffer.alloc(MAX_WEBHOOK_BYTES + 1024, 'a');
    const res = await rawPost(h.base, '/hooks/github', big, { 'x-github-event': 'push', 'x-hub-signature-256': sign(SECRET, big) });
    assert.equal(res.status, 413);
    assert.deepEqual(h.triggers, []);
  });

  it('a body of exactly 1 MiB is not too large (bad signature: 401)', async function () {
    const limit = Buffer.alloc(MAX_WEBHOOK_BYTES, 'a');
    const res = await rawPost(h.base, '/hooks/github', limit, { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` });
    assert.equal(res.status, 401);
    assert.deepEqual(h.triggers, []);
  });

  it('/healthz follows health(); /readyz is 503 before the first reconcile and 200 after', async function () {
    assert.equal((await fetch(`${h.base}/healthz`)).status, 200);
    h.flags.healthy = false;
    assert.equal((await fetch(`${h.base}/healthz`)).status, 503);
    assert.equal((await fetch(`${h.base}/readyz`)).status, 503);
    h.flags.ready = true;
    const ready = await fetch(`${h.base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await fetch(`${h.base}/nope`)).status, 404);
  });

  it('/metrics exposes reconcile duration, last applied revision, drift per component and errors', async function () {
    h.metrics.duration.observe(0.2);
    h.metrics.revision('0123456789abcdef0123456789abcdef01234567');
    h.metrics.drift.set({ component: 'containerd' }, 2);
    h.metrics.errors.inc({ step: 'fetch' });
    const res = await fetch(`${h.base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(text, /^# TYPE mirrornet_reconcile_duration_seconds histogram$/m);
    assert.match(text, /^mirrornet_reconcile_duration_seconds_count 1$/m);
    assert.match(text, /^mirrornet_last_applied_revision_info\{revision="0123456789abcdef0123456789abcdef01234567"\} 1$/m);
    assert.match(text, /^mirrornet_drift\{component="containerd"\} 2$/m);
    assert.match(text, /^mirrornet_errors_total\{step="fetch"\} 1$/m);
    // A new revision replaces the old one (one series, not one per revision ever applied).
    h.metrics.revision('fedcba9876543210fedcba9876543210fedcba98');
    const again = await (await fetch(`${h.base}/metrics`)).text();
    assert.equal(again.match(/^mirrornet_last_applied_revision_info\{/gm)?.length, 1);
  });

  it('without a webhook secret, /hooks/github answers 404 and never triggers', async function () {
    const plain = await startServer({ webhookSecret: undefined });
    try {
      const res = await hook(plain.base, pushMain, { 'x-github-event': 'push', 'x-hub-signature-256': sign(SECRET, pushMain) });
      assert.equal(res.status, 404);
      assert.deepEqual(plain.triggers, []);
    } finally {
      await closeServer(plain.server);
    }
  });
});

/** Whether a process runs (exists and is not a zombie). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
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

describe('CLI agent with webhook (end to end)', function () {
  this.timeout(40_000);
  const fixtures: GitFixture[] = [];
  afterEach(function () {
    killChildren();
  });
  after(function () {
    killChildren();
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });

  it('/healthz turns 503 when no reconcile completes within two intervals (a hook that hangs), and 200 again after', async function () {
    const fx = createGitFixture();
    fixtures.push(fx);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // The first apply writes dfdaemon.yaml, so the restart hook runs: it hangs for 8 s (its timeout is 60 s).
    const args = agentArgs(fx, ['--interval', '2s', '--listen', `127.0.0.1:${port}`]).map((a, i, all) =>
      all[i - 1] === '--dragonfly-restart' ? 'sleep 8' : a,
    );
    const started = Date.now();
    const { child } = startCli(args, { env: { MIRRORNET_LOG_LEVEL: 'info' } });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitFor('/healthz answers', async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200, 10_000);
    const stalled: string = await waitFor(
      '/healthz 503',
      async () => {
        const res = await fetch(`${base}/healthz`);
        return res.status === 503 ? await res.text() : '';
      },
      10_000,
    );
    const stalledAfter = Date.now() - started;
    assert.ok(stalledAfter < 8000, `503 while the hook still hangs (after ${stalledAfter} ms)`);
    // What is stuck, in the answer, in /metrics and in the log.
    assert.match(stalled, /^hook dragonfly-restart running for \d+ s; no reconcile has completed for \d+ s \(interval 2 s\)\n$/);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /^mirrornet_agent_stalled\{step="hook dragonfly-restart"\} 1$/m);
    // The hook ends, the reconcile completes: healthy again.
    await waitFor('/healthz 200 again', async () => (await fetch(`${base}/healthz`)).status === 200, 15_000);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /^mirrornet_agent_stalled\{step="none"\} 0$/m);
    const messages = log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; step?: string })
      .filter((r) => r.msg.startsWith('agent stalled') || r.msg.startsWith('agent recovered'))
      .map((r) => `${r.msg} (${r.step})`);
    assert.deepEqual(messages, [
      'agent stalled: /healthz answers 503 (hook dragonfly-restart)',
      'agent recovered: /healthz answers 200 (hook dragonfly-restart)',
    ]);
  });

  it('on SIGTERM while a restart hook hangs, kills the hook with what it started and exits 0, instead of waiting for the hook', async function () {
    const fx = createGitFixture();
    fixtures.push(fx);
    const port = await freePort();
    const marker = join(fx.root, 'hook-started');
    // The first apply writes dfdaemon.yaml, so the restart hook runs: it starts a sleep, records the sleep's pid
    // and waits for it (the hook timeout is 600 s).
    const hang = `sleep 300 & echo $! > ${marker}; wait`;
    const args = agentArgs(fx, ['--interval', '1h', '--listen', `127.0.0.1:${port}`]).map((a, i, all) => (all[i - 1] === '--dragonfly-restart' ? hang : a));
    const { child, done } = startCli(args);
    await waitFor('the restart hook to run', () => existsSync(marker) && readFileSync(marker, 'utf8').trim() !== '', 20_000);
    const hookPid = Number(readFileSync(marker, 'utf8').trim());
    child.kill('SIGTERM');
    const run = await done;
    assert.deepEqual([run.code, run.signal], [0, null], run.stderr);
    await waitFor('the reparented sleep to be reaped', () => !running(hookPid), 5000).catch(() => undefined);
    assert.equal(running(hookPid), false, 'what the hook started is gone with the agent');
  });

  it('applies a pushed commit promptly after a signed webhook (interval 1h), ignores a bad signature, and exits 0 on SIGTERM', async function () {
    const fx = createGitFixture();
    fixtures.push(fx);
    const first = fx.originHead();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const { child, done } = startCli(
      agentArgs(fx, ['--webhook-secret', 'env:MIRRORNET_TEST_HOOK_SECRET', '--interval', '1h', '--listen', `127.0.0.1:${port}`]),
      {
        env: { MIRRORNET_TEST_HOOK_SECRET: SECRET },
      },
    );
    let exited = false;
    void done.then(() => (exited = true));

    // The startup reconcile applies the first revision; then the agent is ready.
    await waitFor(
      '/readyz 200',
      async () => {
        if (exited) throw new Error(`the agent exited: ${JSON.stringify(await done)}`);
        return (await fetch(`${base}/readyz`)).status === 200;
      },
      15_000,
    );
    assert.equal(fx.state().appliedRevision, first);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);

    fx.replace(REGION_FILE, 'dialTimeout: 2s', 'dialTimeout: 3s');
    const second = fx.commit('us-virginia: dial timeout 3s');

    // A request target that is not a URL is answered 400; the agent process lives on.
    const malformed = await raw(port, 'GET http://[::1 HTTP/1.1\r\nHost: agent\r\n\r\n');
    assert.equal(malformed.status, 400);
    assert.equal(await healthStatus(port), 200, 'the agent still answers after a malformed request target');

    // A forged webhook does nothing.
    const forged = await hook(base, pushMain, { 'x-github-event': 'push', 'x-hub-signature-256': sign('guess', pushMain) });
    assert.equal(forged.status, 401);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(fx.state().appliedRevision, first, 'a bad signature triggers no reconcile');

    const sent = Date.now();
    const res = await hook(base, pushMain, { 'x-github-event': 'push', 'x-github-delivery': 'e2e', 'x-hub-signature-256': sign(SECRET, pushMain) });
    assert.equal(res.status, 202);
    await waitFor('the pushed revision to be applied', () => fx.state().appliedRevision === second, 15_000);
    const latency = Date.now() - sent;
    assert.ok(latency < 15_000, `applied ${latency} ms after the webhook`);
    assert.match(fx.hostText(HARBOR_TOML)!, /dial_timeout = "3s"/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, new RegExp(`^mirrornet_last_applied_revision_info\\{revision="${second}"\\} 1$`, 'm'));
    assert.match(metrics, /^mirrornet_reconcile_duration_seconds_count [1-9]/m);

    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const end = await Promise.race([done, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 10_000)))]);
    clearTimeout(timer);
    assert.notEqual(end, 'timeout', 'the agent did not stop within 10 s of SIGTERM');
    assert.equal((end as { code: number | null }).code, 0, `exit after SIGTERM: ${JSON.stringify(end)}`);
  });
});
