// The endpoint limits an operator may change on `mirrornet agent`: --max-connections and --webhook-rate, what they
// accept, the sentence for what they do not (exit 2 before anything starts), and that a running agent uses them.
import assert from 'node:assert/strict';
import net from 'node:net';
import { serverLimitsOf } from '../../src/cli/agent.js';
import { cli } from '../support/cli.js';
import { UsageError } from '../../src/cli/errors.js';
import { agentArgs, createGitFixture, killChildren, startCli, waitFor, type GitFixture } from '../reconcile/git-fixture.js';

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

describe('agent endpoint flags', function () {
  it('without flags the defaults stay; valid values become the server limits', function () {
    assert.deepEqual(serverLimitsOf({}), {});
    assert.deepEqual(serverLimitsOf({ maxConnections: '256', webhookRate: '5/0.5' }), { maxConnections: 256, webhookRate: { burst: 5, perSecond: 0.5 } });
    assert.deepEqual(serverLimitsOf({ webhookRate: '100/10' }), { webhookRate: { burst: 100, perSecond: 10 } });
  });

  for (const bad of ['0', '-1', '1.5', '65536', 'many', '']) {
    it(`--max-connections ${JSON.stringify(bad)} is a usage error that says what works`, function () {
      assert.throws(
        () => serverLimitsOf({ maxConnections: bad }),
        (err: unknown) =>
          err instanceof UsageError &&
          err.userMessage === `--max-connections ${bad} is not a whole number between 1 and 65535 (default 64).` &&
          err.exitCode === 2,
      );
    });
  }

  for (const bad of ['20', '0/1', '20/0', '20/-1', 'a/b', '20/2000', '20001/1', '20/1/1', '1.5/1']) {
    it(`--webhook-rate ${bad} is a usage error that says what works`, function () {
      assert.throws(
        () => serverLimitsOf({ webhookRate: bad }),
        (err: unknown) =>
          err instanceof UsageError &&
          err.userMessage ===
            `--webhook-rate ${bad} is not BURST/PER_SECOND: webhooks one source may send at once (1 to 10000), then per second ` +
              '(more than 0, at most 1000), e.g. 20/1 (the default) or 5/0.1.',
      );
    });
  }

  it('the CLI exits 1 (a usage error) with that sentence before it starts anything', async function () {
    const res = await cli(['agent', '--region', 'us-virginia', '--repo-url', 'file:///nonexistent', '--webhook-rate', 'fast']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^mirrornet: --webhook-rate fast is not BURST\/PER_SECOND/);
  });
});

describe('agent endpoint flags (end to end)', function () {
  this.timeout(40_000);
  const fixtures: GitFixture[] = [];
  after(function () {
    killChildren();
    for (const fx of fixtures.splice(0)) fx.cleanup();
  });

  it('a running agent answers the third webhook from one address with 429 under --webhook-rate 2/0.01, and counts it', async function () {
    const fx = createGitFixture();
    fixtures.push(fx);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    startCli(agentArgs(fx, ['--interval', '1h', '--listen', `127.0.0.1:${port}`, '--webhook-secret', 'env:HOOK_SECRET', '--webhook-rate', '2/0.01']), {
      env: { HOOK_SECRET: 'It is a secret to everybody, 32+ chars long' },
    });
    await waitFor('/healthz answers', async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200, 15_000);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await fetch(`${base}/hooks/github`, { method: 'POST', body: '{}', headers: { 'x-github-event': 'push' } })).status);
    }
    assert.deepEqual(statuses, [401, 401, 429]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^mirrornet_http_refused_total\{reason="rate-limited"\} 1$/m);
    assert.match(metrics, /^mirrornet_http_refused_total\{reason="bad-signature"\} 2$/m);
  });
});
