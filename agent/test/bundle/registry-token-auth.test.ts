// How mirrornet talks to Harbor: Harbor's core is the token server of its distribution registry. Here a real
// docker-registry runs with `auth: token`, trusting a test token server (token-server.ts) that behaves as
// Harbor's — `publisher` may pull and push, `agent` may only pull, anonymous gets nothing — and the real CLI
// publishes and follows bundles through it: the push account succeeds, a missing or pull-only account is
// refused with a sentence naming what to do, an agent asks for pull alone, and no password is ever printed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciClient } from '../../src/bundle/oci.js';
import type { TickResult } from '../../src/reconcile/loop.js';
import { missingCommand, need } from '../support/capabilities.js';
import { cli, makeFleetRepo, makeSigningKey, OCI_MANIFEST, startRegistry, type FleetRepo, type SigningKey, type TestRegistry } from './registry-fixture.js';
import { startTokenServer, type TokenRequest, type TokenServer } from './token-server.js';

const PUBLISHER_PASSWORD = 'Publisher-pw-4f9c1e7a';
const AGENT_PASSWORD = 'Agent-pw-8b2d60c3';
const PUBLISHER_ENV = 'MN_TOKEN_TEST_PUBLISHER_PASSWORD';
const AGENT_ENV = 'MN_TOKEN_TEST_AGENT_PASSWORD';
const SERVICE = 'mirrornet-test-registry';
const SITES = ['ap-jakarta', 'ap-singapore', 'cn-beijing', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc', 'us-virginia'];

describe('a registry with token auth, as Harbor runs distribution', function () {
  this.timeout(120_000);
  let tmp: string;
  let tokens: TokenServer;
  let registry: TestRegistry;
  let repo: FleetRepo;
  let ci: SigningKey;
  let allowedSigners: string;
  let head: string;
  /** Every CLI run of this suite, for the last test: no password in what any of them printed. */
  const runs: { argv: string[]; stdout: string; stderr: string }[] = [];
  /** The environment as it was before this suite set its variables. */
  let saved: Record<string, string | undefined> | undefined;

  before(async function () {
    need(this, missingCommand('docker-registry', 'docker-registry'));
    need(this, missingCommand('openssl', 'openssl'));
    need(this, missingCommand('ssh-keygen', 'openssh-client'));
    need(this, missingCommand('git', 'git'));
    tmp = mkdtempSync(join(tmpdir(), 'mn-token-auth-'));
    tokens = await startTokenServer(tmp, {
      publisher: { password: PUBLISHER_PASSWORD, actions: ['pull', 'push'] },
      agent: { password: AGENT_PASSWORD, actions: ['pull'] },
    });
    registry = await startRegistry(join(tmp, 'registry'), { config: tokens.registryConfig() });
    ci = makeSigningKey(tmp, 'ci', 'ci@example.org');
    allowedSigners = join(tmp, 'allowed_signers');
    writeFileSync(allowedSigners, ci.allowedLine);
    repo = makeFleetRepo(join(tmp, 'fleet'));
    head = repo.git(['rev-parse', 'HEAD']);
    saved = Object.fromEntries([PUBLISHER_ENV, AGENT_ENV, 'MIRRORNET_LOG_LEVEL'].map((k) => [k, process.env[k]]));
    process.env[PUBLISHER_ENV] = PUBLISHER_PASSWORD;
    process.env[AGENT_ENV] = AGENT_PASSWORD;
    // The in-process agent logs to stderr (fd 2, not the CLI's io); its result and state say what is checked.
    process.env['MIRRORNET_LOG_LEVEL'] = 'silent';
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved ?? {})) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await registry?.kill();
    await tokens?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function mn(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const res = await cli(argv);
    runs.push({ argv, stdout: res.stdout, stderr: res.stderr });
    return res;
  }

  const publish = (to: string, account: string[]) =>
    mn(['publish', '--repo', repo.dir, '--revision', head, '--to', `oci+http://${registry.host}/${to}`, '--sign-key', `file:${ci.key}`, ...account]);
  const asPublisher = ['--username', 'publisher', '--password', `env:${PUBLISHER_ENV}`];

  /** The token requests made while `f` ran. */
  async function tokenRequestsOf<T>(f: () => Promise<T>): Promise<{ result: T; requests: TokenRequest[] }> {
    const from = tokens.requests.length;
    const result = await f();
    return { result, requests: tokens.requests.slice(from) };
  }

  /** The status of HEAD on a manifest, with a token the server issues `account` for pulling, or none. */
  async function manifestStatus(repository: string, reference: string, account: string | null): Promise<number> {
    const headers: Record<string, string> = { accept: OCI_MANIFEST };
    if (account !== null) headers['authorization'] = `Bearer ${tokens.tokenFor(account, [`repository:${repository}:pull`])}`;
    const res = await fetch(`${registry.base}/v2/${repository}/manifests/${reference}`, { method: 'HEAD', headers });
    return res.status;
  }

  /** `mirrornet agent --once` of a us-virginia node following the channel `agents`, with its host under `root`. */
  const agentOnce = (root: string): string[] => [
    'agent',
    '--once',
    '--source',
    `oci+http://${registry.host}/mirrornet/fleet:agents`,
    '--allowed-signers',
    allowedSigners,
    '--region',
    'us-virginia',
    '--roles',
    'node',
    '--root',
    root,
    '--no-chat',
  ];

  it('publishes with the push account: one token for pull,push on the repository, and the registry holds the commit, the channel and each site', async () => {
    const { result: res, requests } = await tokenRequestsOf(() => publish('mirrornet/fleet', asPublisher));
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stderr, '');
    assert.match(res.stdout, /^published oci\+http:\/\/127\.0\.0\.1:\d+\/mirrornet\/fleet@sha256:[0-9a-f]{64} \(8 sites, revision [0-9a-f]{12}\)\n/);
    assert.deepEqual(requests, [
      {
        account: 'publisher',
        service: SERVICE,
        scopes: ['repository:mirrornet/fleet:pull,push'],
        status: 200,
        granted: [{ type: 'repository', name: 'mirrornet/fleet', actions: ['pull', 'push'] }],
      },
    ]);
    // The registry answers no one without a token, and a pull token sees every tag the publish made.
    assert.equal(await manifestStatus('mirrornet/fleet', 'main', null), 401);
    for (const tag of [head, 'main', ...SITES.map((s) => `main.${s}`)]) assert.equal(await manifestStatus('mirrornet/fleet', tag, 'agent'), 200, tag);
  });

  it('refuses to publish without credentials: exit 1, the registry named, HTTP 401, and which flags to give', async () => {
    const { result: res, requests } = await tokenRequestsOf(() => publish('mirrornet/fleet', []));
    assert.equal(res.code, 1);
    assert.equal(
      res.stderr,
      `mirrornet: The registry ${registry.host} refused to read the manifest mirrornet/fleet:main ` +
        '(HTTP 401: it needs credentials to mirrornet/fleet): give --username and --password REF of an account with push rights to that repository.\n',
    );
    assert.equal(res.stdout, '');
    assert.deepEqual(
      requests.map((r) => [r.account, r.scopes, r.granted]),
      [[undefined, ['repository:mirrornet/fleet:pull,push'], [{ type: 'repository', name: 'mirrornet/fleet', actions: [] }]]],
    );
  });

  it('refuses to publish with a pull-only account, naming the account, and pushes nothing', async () => {
    const asAgent = ['--username', 'agent', '--password', `env:${AGENT_ENV}`];
    const { result: res, requests } = await tokenRequestsOf(() => publish('mirrornet/staging', asAgent));
    assert.equal(res.code, 1);
    // Which blob is refused first depends on the order the uploads start in.
    assert.equal(
      res.stderr.replace(/sha256:[0-9a-f]{64}/, 'sha256:<digest>'),
      `mirrornet: The registry ${registry.host} refused to upload the blob sha256:<digest> to mirrornet/staging ` +
        '(HTTP 401: the account agent may not push to mirrornet/staging): ' +
        'give --username and --password REF of an account with push rights to that repository.\n',
    );
    assert.ok(requests.length >= 1);
    for (const r of requests) {
      assert.deepEqual(r, {
        account: 'agent',
        service: SERVICE,
        scopes: ['repository:mirrornet/staging:pull,push'],
        status: 200,
        granted: [{ type: 'repository', name: 'mirrornet/staging', actions: ['pull'] }],
      });
    }
    assert.equal(await manifestStatus('mirrornet/staging', 'main', 'publisher'), 404);
  });

  it('an agent applies the bundle with the pull-only account, asking the token server for pull alone', async () => {
    assert.equal((await publish('mirrornet/fleet:agents', asPublisher)).code, 0);
    const root = join(tmp, 'host');
    const { result: res, requests } = await tokenRequestsOf(() =>
      mn([
        ...agentOnce(root),
        '--registry-username',
        'agent',
        '--registry-password',
        `env:${AGENT_ENV}`,
        '--dragonfly-restart',
        'true',
        '--docker-reload',
        'true',
      ]),
    );
    assert.equal(res.code, 0, `${res.stdout}${res.stderr}`);
    assert.deepEqual(JSON.parse(res.stdout) as TickResult, { kind: 'applied', revision: head, changes: 3 });
    assert.equal((JSON.parse(readFileSync(join(root, 'var/lib/mirrornet/state.json'), 'utf8')) as { appliedRevision: string }).appliedRevision, head);
    assert.deepEqual(requests, [
      {
        account: 'agent',
        service: SERVICE,
        scopes: ['repository:mirrornet/fleet:pull'],
        status: 200,
        granted: [{ type: 'repository', name: 'mirrornet/fleet', actions: ['pull'] }],
      },
    ]);
  });

  it("an agent without credentials fails the tick (exit 1) and is told the agent's own flags", async () => {
    const root = join(tmp, 'host-anonymous');
    const res = await mn(agentOnce(root));
    assert.equal(res.code, 1);
    assert.equal((JSON.parse(res.stdout) as TickResult).kind, 'failed');
    assert.ok(
      res.stdout.includes(
        '(HTTP 401: it needs credentials to mirrornet/fleet): give --registry-username and --registry-password REF of an account with pull rights',
      ),
      res.stdout,
    );
  });

  it('refuses a wrong password with a sentence that says the token server did not accept the account', async () => {
    process.env['MN_TOKEN_TEST_WRONG'] = `${PUBLISHER_PASSWORD}-wrong`;
    try {
      const wrong = ['--username', 'publisher', '--password', 'env:MN_TOKEN_TEST_WRONG'];
      const { result: res, requests } = await tokenRequestsOf(() => publish('mirrornet/fleet', wrong));
      assert.equal(res.code, 1);
      assert.equal(
        res.stderr,
        `mirrornet: The registry ${registry.host} refused to read the manifest mirrornet/fleet:main: its token server ${tokens.host} ` +
          'did not accept the account publisher (HTTP 401): check the password REF given for it.\n',
      );
      assert.ok(!res.stderr.includes(`${PUBLISHER_PASSWORD}-wrong`));
      assert.deepEqual(
        requests.map((r) => [r.account, r.status]),
        [['publisher', 401]],
      );
    } finally {
      delete process.env['MN_TOKEN_TEST_WRONG'];
    }
  });

  it('replaces a token that expired: the registry refuses it, one new token is asked for, and the read goes on', async () => {
    const client = new OciClient(
      { base: registry.base, host: registry.host, repository: 'mirrornet/fleet' },
      { access: 'pull', username: 'agent', password: AGENT_PASSWORD },
    );
    // distribution accepts a token up to 60 s past its `exp`: this one is good for about 2 more seconds.
    tokens.lifetime = -58;
    const first = await tokenRequestsOf(() => client.manifestDigest('main'));
    tokens.lifetime = 300;
    assert.match(first.result ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(first.requests.length, 1);
    await new Promise((r) => setTimeout(r, 3_500));
    const second = await tokenRequestsOf(() => client.manifestDigest('main'));
    assert.equal(second.result, first.result);
    assert.deepEqual(
      second.requests.map((r) => [r.account, r.scopes, r.status]),
      [['agent', ['repository:mirrornet/fleet:pull'], 200]],
    );
  });

  it('prints neither password in the output of any run', () => {
    assert.ok(runs.length >= 6, `only ${runs.length} runs recorded: run the whole suite`);
    for (const run of runs) {
      for (const secret of [PUBLISHER_PASSWORD, AGENT_PASSWORD]) {
        assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), `${run.argv.join(' ')} printed a password`);
      }
    }
  });
});
