// `mirrornet plan` (text) shows what apply will write: the unified diff of each file against what is on the
// host, under the file's path, with secrets masked; the restarts it runs; and the guardrails that would refuse it.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Change } from '../../src/providers/types.js';
import { restartsFor } from '../../src/reconcile/file-diff.js';
import { cli } from '../support/cli.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/fleet-node', import.meta.url));
const SECRET = 'plan-secret-Zx81q9Lm';

describe('mirrornet plan (text): the content of what apply writes', function () {
  this.timeout(60_000);
  let tmp: string;
  let root: string;
  let repo: string;
  const args = (cmd: 'plan' | 'apply') => [
    cmd,
    '--region',
    'cn-shanghai',
    '--roles',
    'node',
    '--root',
    root,
    '--repo',
    repo,
    '--dragonfly-restart',
    'true',
    '--docker-reload',
    'true',
  ];

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mn-plan-text-'));
    root = join(tmp, 'root');
    repo = join(tmp, 'fleet');
    cpSync(FIXTURE, repo, { recursive: true });
    process.env['MIRRORNET_PLAN_TEST_TOKEN'] = SECRET;
  });
  afterEach(() => {
    delete process.env['MIRRORNET_PLAN_TEST_TOKEN'];
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a dfdaemon.yaml edited on the host: a unified diff under its path, the secret in it masked, and the restart named', async () => {
    assert.equal((await cli(args('apply'))).code, 0);
    const file = join(root, 'etc/dragonfly/dfdaemon.yaml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, `${good.replace('port: 4001', 'port: 65001')}token: ${SECRET}\n`);

    const out = await cli(args('plan'));
    assert.equal(out.code, 2, out.stderr);
    const lines = out.stdout.split('\n');
    const at = lines.indexOf('    ~ /etc/dragonfly/dfdaemon.yaml  dfdaemon.yaml differs from the repository');
    assert.ok(at > 0, out.stdout);
    assert.equal(lines[at + 1], '        --- /etc/dragonfly/dfdaemon.yaml');
    assert.equal(lines[at + 2], '        +++ /etc/dragonfly/dfdaemon.yaml');
    assert.ok(lines.includes('        -    port: 65001'), out.stdout);
    assert.ok(lines.includes('        +    port: 4001'), out.stdout);
    assert.ok(lines.includes('        -token: ***'), out.stdout);
    assert.ok(!out.stdout.includes(SECRET), 'the secret is masked');
    assert.ok(lines.includes('Applying it will:'), out.stdout);
    assert.ok(lines.includes('  - restart dfdaemon (`true`): it does not reload dfdaemon.yaml'), out.stdout);

    const json = JSON.parse((await cli([...args('plan'), '--format', 'json'])).stdout) as { changes: { id: string; diff?: string }[]; restarts: string[] };
    const change = json.changes.find((c) => c.id === '/etc/dragonfly/dfdaemon.yaml');
    assert.match(change?.diff ?? '', /^--- \/etc\/dragonfly\/dfdaemon\.yaml\n\+\+\+ \/etc\/dragonfly\/dfdaemon\.yaml\n@@ /);
    assert.ok(!JSON.stringify(json).includes(SECRET));
    assert.deepEqual(json.restarts, ['restart dfdaemon (`true`): it does not reload dfdaemon.yaml']);
  });

  it('a new host: every file as added lines', async () => {
    const out = await cli(args('plan'));
    assert.equal(out.code, 2, out.stderr);
    assert.match(
      out.stdout,
      /\n {8}--- \/dev\/null\n {8}\+\+\+ \/etc\/dragonfly\/dfdaemon\.yaml\n {8}@@ -0,0 \+1,\d+ @@\n {8}\+# Managed by mirrornet for cn-shanghai/,
    );
    assert.doesNotMatch(out.stdout, /would refuse/);
  });

  it('a move from containerd to Docker: the removed hosts.toml, the new daemon.json, the reload, and the guardrail it trips', async () => {
    assert.equal((await cli(args('apply'))).code, 0);
    const region = join(repo, 'regions/cn-shanghai.yaml');
    writeFileSync(
      region,
      readFileSync(region, 'utf8').replace('runtime: containerd\n  registries: [harbor-cn-beijing]', 'runtime: docker\n  registries: [docker.io]'),
    );
    const guardrails = join(repo, 'policies/guardrails.yaml');
    writeFileSync(guardrails, readFileSync(guardrails, 'utf8').replace('maxDeletionsPerApply: 20', 'maxDeletionsPerApply: 0'));

    const out = await cli(args('plan'));
    assert.equal(out.code, 2, out.stderr);
    const lines = out.stdout.split('\n');
    assert.ok(lines.includes('        +++ /dev/null'), out.stdout);
    assert.ok(lines.includes('        +++ /etc/docker/daemon.json'), out.stdout);
    assert.ok(lines.includes('        +  "registry-mirrors": ['), out.stdout);
    assert.ok(lines.includes('  - reload Docker with SIGHUP (`true`): registry-mirrors needs no restart'), out.stdout);
    assert.ok(lines.includes('The guardrails in force would refuse this plan (apply changes nothing):'), out.stdout);
    assert.ok(
      lines.includes(
        '  - guardrail: the plan deletes 1 resources; the guardrail allows 0 per apply (policies/guardrails.yaml maxDeletionsPerApply). ' +
          'If this is intended, raise the limit in a pull request of its own first: agents judge a revision by the guardrails applied before it.',
      ),
      out.stdout,
    );
  });
});

describe('the restarts and reloads a plan names', () => {
  const commands = { dockerReload: 'reload-docker', dragonflyRestart: 'restart-dfdaemon', harborApply: 'prepare-harbor' };
  const c = (provider: Change['provider'], action: Change['action'], data?: unknown): Change => ({ provider, id: 'x', action, reason: 'r', data });

  it('dfdaemon restarts on a written dfdaemon.yaml, Docker reloads (also when its mirrors go), Harbor only when harbor.yml is rewritten', () => {
    assert.deepEqual(restartsFor([c('dragonfly', 'update'), c('dragonfly', 'create')], commands), [
      'restart dfdaemon (`restart-dfdaemon`): it does not reload dfdaemon.yaml',
    ]);
    assert.deepEqual(restartsFor([c('docker', 'delete')], commands), ['reload Docker with SIGHUP (`reload-docker`): registry-mirrors needs no restart']);
    assert.deepEqual(restartsFor([c('harbor-config', 'update', { run: true })], commands), [
      'regenerate and restart Harbor (`prepare-harbor` in its install directory)',
    ]);
    assert.deepEqual(restartsFor([c('harbor-config', 'update', { run: false })], commands), [], 'a mode change only');
  });

  it('containerd, WireGuard, routes and a removed dfdaemon.yaml restart nothing', () => {
    assert.deepEqual(restartsFor([c('containerd', 'update'), c('wireguard', 'update'), c('routes', 'create'), c('dragonfly', 'delete')], commands), []);
  });
});
