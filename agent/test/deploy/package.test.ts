// The release a host installs (agent/scripts/release.js): the .deb is built, unpacked into a throwaway root
// (dpkg-deb -x), and the installed `mirrornet` runs the commands a host uses — --version, validate, plan --root,
// agent --once (its validator child is the same file) — from a directory where no node_modules can be found.
// The installed unit passes `systemd-analyze verify` and scores 4.0 or less in `systemd-analyze security`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentArgs, createGitFixture, type GitFixture } from '../reconcile/git-fixture.js';
import { missingCommand, need } from '../support/capabilities.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const RELEASE = join(REPO, 'agent/scripts/release.js');
const UNIT = '/lib/systemd/system/mirrornet-agent.service';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('release: the .deb a host installs', function () {
  this.timeout(180_000);
  let work: string;
  let root: string;
  let deb: string;
  let empty: string;

  /** The installed mirrornet, from a directory with no node_modules above it and no NODE_PATH. */
  const mirrornet = (args: string[]): Run => {
    const res = spawnSync(join(root, 'usr/bin/mirrornet'), args, {
      cwd: empty,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: empty, NO_COLOR: '1', MIRRORNET_LOG_FORMAT: 'json' },
      timeout: 120_000,
    });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  };

  before(function () {
    need(this, missingCommand('dpkg-deb', 'dpkg'));
    work = mkdtempSync(join(tmpdir(), 'mirrornet-release-'));
    execFileSync(process.execPath, [RELEASE, '--out', join(work, 'out')], { stdio: ['ignore', 'ignore', 'inherit'] });
    deb = join(work, 'out', 'mirrornet_0.2.0_all.deb');
    root = join(work, 'root');
    execFileSync('dpkg-deb', ['-x', deb, root]);
    empty = join(work, 'cwd');
    mkdirSync(empty);
  });

  after(function () {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('builds the single file, the tarball and the .deb, whose control file names its dependencies', function () {
    assert.ok(existsSync(join(work, 'out', 'mirrornet.mjs')));
    assert.ok(existsSync(join(work, 'out', 'mirrornet-0.2.0.tgz')));
    const field = (name: string) => execFileSync('dpkg-deb', ['-f', deb, name], { encoding: 'utf8' }).trim();
    assert.equal(field('Package'), 'mirrornet');
    assert.equal(field('Version'), '0.2.0');
    assert.equal(field('Architecture'), 'all');
    assert.equal(field('Depends'), 'nodejs (>= 20.19), git, wireguard-tools, iproute2, iptables');
    assert.equal(field('Recommends'), 'wireguard-go, openssh-client');
    const conffiles = execFileSync('sh', ['-c', `dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles`, 'sh', deb], { encoding: 'utf8' });
    assert.equal(conffiles, '/etc/mirrornet/agent.env.example\n');
  });

  it('installs /usr/bin/mirrornet, the unit and the environment template, and nothing of the test bed', function () {
    assert.equal(readlinkSync(join(root, 'usr/bin/mirrornet')), '../lib/mirrornet/mirrornet.mjs');
    const single = readFileSync(join(root, 'usr/lib/mirrornet/mirrornet.mjs'), 'utf8');
    assert.ok(single.startsWith('#!/usr/bin/env node\n'));
    assert.ok(existsSync(join(root, UNIT)));
    const env = readFileSync(join(root, 'etc/mirrornet/agent.env.example'), 'utf8');
    assert.match(env, /^MIRRORNET_WEBHOOK_SECRET=$/m, 'the template ships no usable secret');
    for (const testbed of ['startGithubEmulator', 'startHarborEmulator', 'registerTestbedCommands']) assert.ok(!single.includes(testbed), testbed);
  });

  it('runs --version, validate and plan --root with nothing from the repository', function () {
    const version = mirrornet(['--version']);
    assert.deepEqual(version, { code: 0, stdout: '0.2.0\n', stderr: '' });
    const valid = mirrornet(['validate', '--repo', REPO]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /^valid: \d+ files checked, 0 warnings\n$/);
    const host = join(work, 'host');
    const plan = mirrornet(['plan', '--region', 'eu-amsterdam-idc', '--roles', 'node', '--repo', REPO, '--root', host]);
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, /^ {4}\+ \/etc\/containerd\/certs\.d\/harbor\.sg\.mirrornet\.internal\/hosts\.toml {2}/m);
    assert.match(plan.stdout, /^ {4}\+ \/etc\/dragonfly\/dfdaemon\.yaml {2}dfdaemon\.yaml does not exist$/m);
    assert.match(plan.stdout, /^2 to create, 0 to update, 0 to delete\.$/m);
  });

  it('runs agent --once from a git repository: its validator child is the installed file itself', function () {
    need(this, missingCommand('git', 'git'));
    let fx: GitFixture | undefined;
    try {
      fx = createGitFixture();
      const res = mirrornet(agentArgs(fx, ['--once']));
      assert.equal(res.code, 0, res.stderr);
      const result = JSON.parse(res.stdout.trim().split('\n').pop()!) as { kind: string; changes: number };
      assert.deepEqual({ kind: result.kind, changes: result.changes }, { kind: 'applied', changes: 3 });
      assert.ok(fx.hostText('/etc/dragonfly/dfdaemon.yaml')?.includes('proxy:'));
    } finally {
      fx?.cleanup();
    }
  });

  it("runs the publisher's child as the installed file itself: it validates the revision, then says the registry is down", function () {
    need(this, missingCommand('git', 'git'));
    let fx: GitFixture | undefined;
    try {
      fx = createGitFixture();
      const request = { repo: fx.work, revision: 'HEAD', target: { base: 'http://127.0.0.1:9', host: '127.0.0.1:9', repository: 'mirrornet/fleet' } };
      const res = spawnSync(join(root, 'usr/bin/mirrornet'), ['__publish-revision'], {
        cwd: empty,
        encoding: 'utf8',
        input: JSON.stringify(request),
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: empty, NO_COLOR: '1' },
        timeout: 120_000,
      });
      assert.equal(res.status, 0, res.stderr);
      const outcome = JSON.parse(res.stdout) as { failed?: { refused: boolean; userMessage: string } };
      assert.equal(outcome.failed?.refused, false, res.stdout);
      assert.match(outcome.failed.userMessage, /127\.0\.0\.1:9/);
    } finally {
      fx?.cleanup();
    }
  });

  it('the installed unit passes systemd-analyze verify without a warning', function () {
    need(this, missingCommand('systemd-analyze', 'systemd'));
    need(this, existsSync('/usr/bin/node') ? undefined : 'the unit starts /usr/bin/node, which this machine lacks (apt-get install nodejs)');
    const res = spawnSync('systemd-analyze', ['verify', join(root, UNIT)], { encoding: 'utf8' });
    assert.deepEqual({ code: res.status, stderr: res.stderr }, { code: 0, stderr: '' });
  });

  it('the installed unit scores 4.0 or less ("OK") in systemd-analyze security', function () {
    need(this, missingCommand('systemd-analyze', 'systemd'));
    const res = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', join(root, UNIT)], { encoding: 'utf8' });
    const m = /Overall exposure level for mirrornet-agent\.service: (\d+\.\d) (\w+)/.exec(res.stdout);
    assert.ok(m, `no score in:\n${res.stdout}${res.stderr}`);
    assert.ok(Number(m[1]) <= 4.0, `exposure ${m[1]} ${m[2]}, above 4.0:\n${res.stdout}`);
    assert.equal(m[2], 'OK');
  });
});
