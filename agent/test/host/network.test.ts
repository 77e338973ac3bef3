// The one description of network failures (host/network.ts) on real failures: a closed port, a server that
// never answers, a certificate this host does not trust; and through the clients that use it (GitHub here;
// PostgreSQL and Harbor in their provider tests and environment-failures.test.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeNetworkError, networkErrorCode, networkSentence } from '../../src/host/network.js';
import { createGithubClient, describeGithubError } from '../../src/report/github/octokit.js';
import { missingCommand, need } from '../support/capabilities.js';

async function listening(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  const port = await listening(srv);
  await new Promise((r) => srv.close(r));
  return port;
}

const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('the request succeeded'),
    (e: unknown) => e,
  );

describe('network failures are sentences', function () {
  this.timeout(20_000);

  it('a closed port: refused, with where and what to check', async () => {
    const port = await closedPort();
    const err = await failureOf(fetch(`http://127.0.0.1:${port}/`));
    assert.equal(networkErrorCode(err), 'ECONNREFUSED');
    assert.equal(
      describeNetworkError('Harbor', `http://127.0.0.1:${port}`, err)?.userMessage,
      `Cannot reach Harbor at http://127.0.0.1:${port}: the connection was refused (nothing listens on that port). ` +
        'Check that Harbor runs there and that the address and port are right.',
    );
  });

  it('a server that accepts and never answers: no answer in time', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    const port = await listening(silent);
    try {
      const err = await failureOf(fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(300) }));
      assert.equal(
        describeNetworkError('GitHub', `http://127.0.0.1:${port}`, err)?.userMessage,
        `Cannot reach GitHub at http://127.0.0.1:${port}: no answer in time. ` +
          `Check the network path and firewalls between this host and http://127.0.0.1:${port}; the next run tries again.`,
      );
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  });

  it('a self-signed certificate: not trusted, with how to trust its CA', async function () {
    need(this, missingCommand('openssl', 'openssl'));
    const dir = mkdtempSync(join(tmpdir(), 'mn-tls-'));
    try {
      const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
      const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1'];
      execFileSync('openssl', [...args, '-keyout', key, '-out', cert], { stdio: 'ignore' });
      const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_q, s) => s.end('ok'));
      const port = await listening(server);
      try {
        const err = await failureOf(fetch(`https://127.0.0.1:${port}/`));
        assert.equal(
          describeNetworkError('Harbor', `https://127.0.0.1:${port}`, err)?.userMessage,
          `Cannot reach Harbor at https://127.0.0.1:${port}: this host does not trust its TLS certificate (DEPTH_ZERO_SELF_SIGNED_CERT). ` +
            'Install the CA that signed it on this host (e.g. NODE_EXTRA_CA_CERTS=/path/to/ca.pem in the agent environment), or fix the certificate.',
        );
      } finally {
        server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds the code through causes and the attempts of an AggregateError; other errors are left to the caller', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' });
    assert.equal(networkErrorCode(new TypeError('fetch failed', { cause: new AggregateError([refused], 'all failed') })), 'ECONNREFUSED');
    assert.equal(networkErrorCode(new Error('no code')), undefined);
    assert.equal(describeNetworkError('PostgreSQL', 'db:5432', new Error('a bug')), undefined);
    assert.equal(networkSentence('PostgreSQL', 'db:5432', 'EBADF'), undefined);
    assert.equal(
      networkSentence('PostgreSQL', 'db.internal:5432', 'ENOTFOUND'),
      "Cannot reach PostgreSQL at db.internal:5432: the host name does not resolve. Check the name, and this host's DNS (/etc/resolv.conf).",
    );
  });

  it('GitHub unreachable: the reason says why, not "HTTP 500: fetch failed"', async () => {
    const port = await closedPort();
    const octokit = createGithubClient({ token: 't', baseUrl: `http://127.0.0.1:${port}`, retries: 0 });
    const err = await failureOf(octokit.request('GET /repos/{owner}/{repo}', { owner: 'acme', repo: 'fleet' }));
    assert.equal(
      describeGithubError(err),
      `Cannot reach GitHub at http://127.0.0.1:${port}: the connection was refused (nothing listens on that port). ` +
        'Check that GitHub runs there and that the address and port are right',
    );
  });
});
