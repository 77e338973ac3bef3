// `mirrornet agent` flags that say where revisions come from (cli/agent-sources.ts): the git repository or a
// bundle channel, a node's gateway and the fan-out token, registry credentials and mirror, the publisher role.
// Each wrong combination is a usage error (exit 1 for `agent`) whose sentence names the flag and what to do;
// it comes before anything runs (--once and a sandbox --root keep the host untouched if it did not).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentCliOptions } from '../../src/cli/agent.js';
import { sourcesOf } from '../../src/cli/agent-sources.js';
import { cli } from '../support/cli.js';
import type { Role } from '../../src/desired/types.js';
import { localExec } from '../../src/host/exec.js';
import { hostSecrets } from '../../src/host/secrets.js';

const SOURCE = 'oci+http://127.0.0.1:1/m/f';
const TOKEN_ENV = 'MN_TEST_AGENT_SOURCE_FANOUT';

describe('agent source flags (usage errors)', function () {
  let root: string;
  let signers: string;
  /** `agent` for cn-shanghai, once, in a sandbox root, without chat, plus `flags`. */
  const agent = (...flags: string[]) => cli(['agent', '--region', 'cn-shanghai', '--once', '--no-chat', '--root', root, ...flags]);

  before(function () {
    root = mkdtempSync(join(tmpdir(), 'mn-agent-source-'));
    signers = join(root, 'allowed_signers');
    writeFileSync(signers, '');
    process.env[TOKEN_ENV] = 'the fan-out token';
  });
  after(function () {
    delete process.env[TOKEN_ENV];
    rmSync(root, { recursive: true, force: true });
  });

  const cases: [string, () => string[], string][] = [
    [
      'neither --repo-url nor --source',
      () => [],
      'Give the agent one source: --repo-url (the git repository) or --source oci://HOST/PROJECT/REPO[:CHANNEL] (published bundles); ' +
        'both only with --publish-to (a publisher that applies from its own bundles).',
    ],
    [
      'both --repo-url and --source',
      () => ['--repo-url', 'file:///nonexistent/fleet.git', '--source', SOURCE, '--allowed-signers', signers],
      'Give the agent one source: --repo-url (the git repository) or --source oci://HOST/PROJECT/REPO[:CHANNEL] (published bundles); ' +
        'both only with --publish-to (a publisher that applies from its own bundles).',
    ],
    [
      '--source without --allowed-signers',
      () => ['--source', SOURCE],
      '--source needs --allowed-signers FILE: a bundle is applied only when a key in that file signed it.',
    ],
    [
      '--source that is not an OCI reference',
      () => ['--source', 'https://registry.example/m/f', '--allowed-signers', signers],
      '--source: https://registry.example/m/f is not an OCI reference: give oci://HOST/PROJECT/REPO[:TAG] (oci+http:// for a registry without TLS), ' +
        'without credentials.',
    ],
    [
      '--gateway without --fanout-token',
      () => ['--source', SOURCE, '--allowed-signers', signers, '--roles', 'node', '--gateway', 'http://127.0.0.1:2'],
      '--gateway needs --fanout-token REF, the token the site’s gateway asks of its nodes.',
    ],
    [
      '--gateway that is not an http URL',
      () => ['--source', SOURCE, '--allowed-signers', signers, '--roles', 'node', '--gateway', 'ftp://gw.example', '--fanout-token', `env:${TOKEN_ENV}`],
      '--gateway ftp://gw.example is not an http:// or https:// URL.',
    ],
    [
      '--registry-mirror that is not an http URL',
      () => ['--source', SOURCE, '--allowed-signers', signers, '--registry-mirror', '127.0.0.1:4001'],
      '--registry-mirror 127.0.0.1:4001 is not an http:// or https:// URL.',
    ],
    [
      '--registry-username without --registry-password',
      () => ['--source', SOURCE, '--allowed-signers', signers, '--registry-username', 'robot$agents'],
      '--registry-username and --registry-password go together.',
    ],
    [
      '--registry-password without --registry-username',
      () => ['--source', SOURCE, '--allowed-signers', signers, '--registry-password', `env:${TOKEN_ENV}`],
      '--registry-username and --registry-password go together.',
    ],
    [
      '--gateway with --repo-url',
      () => ['--repo-url', 'file:///nonexistent/fleet.git', '--gateway', 'http://127.0.0.1:2'],
      '--gateway goes with --source (bundles), not --repo-url.',
    ],
    [
      '--registry-mirror with --repo-url',
      () => ['--repo-url', 'file:///nonexistent/fleet.git', '--registry-mirror', 'http://127.0.0.1:4001'],
      '--registry-mirror goes with --source (bundles), not --repo-url.',
    ],
    [
      '--fanout-token with --repo-url',
      () => ['--repo-url', 'file:///nonexistent/fleet.git', '--fanout-token', `env:${TOKEN_ENV}`],
      '--fanout-token goes with --source (bundles), not --repo-url.',
    ],
    [
      '--publish-to without --sign-key',
      () => ['--repo-url', 'file:///nonexistent/fleet.git', '--publish-to', SOURCE],
      '--publish-to needs --sign-key REF: agents apply only signed bundles.',
    ],
    [
      '--rollout-core without --rollout-key',
      () => ['--repo-url', 'file:///nonexistent/fleet.git', '--publish-to', SOURCE, '--sign-key', `env:${TOKEN_ENV}`, '--rollout-core', 'http://127.0.0.1:3'],
      "--rollout-core and --rollout-key go together: the publisher asks the cores for their sites' health with that operator key.",
    ],
    [
      '--publish-to with --source instead of --repo-url',
      () => ['--source', SOURCE, '--allowed-signers', signers, '--publish-to', SOURCE, '--sign-key', `env:${TOKEN_ENV}`],
      '--publish-to needs --repo-url: the publisher follows the git repository.',
    ],
    [
      '--publish-to that is not an OCI reference',
      () => ['--repo-url', 'file:///nonexistent/fleet.git', '--publish-to', 'registry.example/m/f', '--sign-key', `env:${TOKEN_ENV}`],
      '--publish-to: registry.example/m/f is not an OCI reference: give oci://HOST/PROJECT/REPO[:TAG] (oci+http:// for a registry without TLS), ' +
        'without credentials.',
    ],
  ];

  for (const [name, flags, sentence] of cases) {
    it(`${name}: exit 1 before anything runs, with the sentence naming the flag and what to do`, async function () {
      const res = await agent(...flags());
      assert.equal(res.stderr, `mirrornet: ${sentence}\n`);
      assert.equal(res.code, 1);
      assert.equal(res.stdout, '', 'nothing ran');
    });
  }

  for (const flag of ['--fanout-token', '--registry-password', '--registry-hook-token', '--sign-key']) {
    it(`a secret given as a literal to ${flag} is refused (exit 1) without being repeated`, async function () {
      const literal = 'f4n0ut-t0ken-1f2e3d4c5b6a';
      const others = flag === '--registry-password' ? ['--registry-username', 'robot'] : [];
      const res = await agent('--source', SOURCE, '--allowed-signers', signers, ...others, flag, literal);
      assert.equal(res.code, 1);
      assert.ok(!res.stderr.includes(literal) && !res.stderr.includes('f4n0ut'), res.stderr);
      assert.equal(
        res.stderr,
        `mirrornet: ${flag} takes a secret reference, env:NAME (an environment variable on this host) or file:/absolute/path (a file on it), ` +
          'never the secret itself; the value given is not one and is not repeated here. If it was the secret, rotate it: ' +
          'it may be in the shell history or the process list.\n',
      );
    });
  }
});

describe("agent source flags: what a host does with the site's head (sourcesOf)", function () {
  const env = { FANOUT: 'the fan-out token' };
  const base = { region: 'cn-shanghai', roles: '', root: '/', branch: 'main', interval: '30s', listen: '127.0.0.1:9464' };
  const sources = (roles: Role[], flags: Partial<AgentCliOptions>) =>
    sourcesOf(
      { ...base, source: SOURCE, allowedSigners: '/etc/mirrornet/allowed_signers', ...flags },
      roles,
      '/nonexistent/state',
      hostSecrets({ env }),
      localExec(),
    );

  it('a gateway host with --fanout-token hands the head on, with the resolved token, and follows the registry itself', async function () {
    const s = await sources(['gateway', 'node'], { fanoutToken: 'env:FANOUT' });
    assert.ok(s.broadcast, 'a broadcast for its nodes');
    assert.equal(s.fanoutToken, 'the fan-out token');
    assert.equal(s.feed, undefined);
    assert.equal(s.bundle?.tag, 'main.cn-shanghai');
  });

  it('a node host with --gateway follows that gateway and hands nothing on', async function () {
    const s = await sources(['node'], { fanoutToken: 'env:FANOUT', gateway: 'http://10.120.0.1:9464' });
    assert.equal(s.feed?.url, 'http://10.120.0.1:9464/');
    assert.equal(s.broadcast, undefined);
    assert.equal(s.fanoutToken, undefined);
  });

  it('a gateway host that follows another gateway hands nothing on (one hand-out per site)', async function () {
    const s = await sources(['gateway', 'node'], { fanoutToken: 'env:FANOUT', gateway: 'http://10.120.0.1:9464' });
    assert.ok(s.feed);
    assert.equal(s.broadcast, undefined);
  });

  it('a host without --fanout-token neither hands out nor follows a gateway', async function () {
    const s = await sources(['gateway', 'node'], {});
    assert.equal(s.broadcast, undefined);
    assert.equal(s.feed, undefined);
    assert.equal(s.revisions.remoteHost(), '127.0.0.1');
  });
});
