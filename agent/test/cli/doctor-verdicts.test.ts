// The verdicts of `mirrornet doctor` (pure): what each finding means, the line it prints and the exit code; and
// how it reads the host as the agent's service does (its environment file, its git over SSH).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceEnvironment } from '../../src/cli/doctor.js';
import { agentGitSshCommand } from '../../src/source/git.js';
import {
  clockCheck,
  commandCheck,
  exitCodeOf,
  formatChecks,
  nodeCheck,
  parseSs,
  proxyPortCheck,
  secretsCheck,
  stateDirCheck,
  wireguardCheck,
} from '../../src/cli/doctor-verdicts.js';

describe('doctor verdicts', function () {
  it('Node.js 20.19 and later pass, older and unreadable versions fail', function () {
    assert.deepEqual(nodeCheck('v20.19.0'), { verdict: 'ok', check: 'node', detail: 'Node.js 20.19.0' });
    assert.deepEqual(nodeCheck('v22.12.0'), { verdict: 'ok', check: 'node', detail: 'Node.js 22.12.0' });
    assert.deepEqual(nodeCheck('v20.18.3'), {
      verdict: 'fail',
      check: 'node',
      detail: 'Node.js 20.18.3 is older than 20.19.0: install Node.js 22 or 24 (LTS)',
    });
    assert.deepEqual(nodeCheck('twenty'), {
      verdict: 'fail',
      check: 'node',
      detail: 'cannot tell the Node.js version from "twenty": install Node.js 20.19.0 or later',
    });
  });

  it('a missing program fails with the Debian package to install', function () {
    assert.deepEqual(commandCheck('wg', undefined, 'WireGuard tunnels'), {
      verdict: 'fail',
      check: 'wg',
      detail: 'wg is not in PATH (WireGuard tunnels): Install wireguard-tools (Debian: apt-get install wireguard-tools)',
    });
    assert.deepEqual(commandCheck('wg', { path: '/usr/bin/wg', version: 'wireguard-tools v1.0.20210914' }, 'WireGuard tunnels'), {
      verdict: 'ok',
      check: 'wg',
      detail: '/usr/bin/wg (wireguard-tools v1.0.20210914)',
    });
  });

  it('WireGuard passes with the kernel module or wireguard-go and fails with neither', function () {
    assert.equal(wireguardCheck({ kind: 'kernel', how: 'module loaded' }).detail, 'kernel WireGuard (module loaded)');
    assert.equal(wireguardCheck({ kind: 'wireguard-go', path: '/usr/bin/wireguard-go' }).verdict, 'ok');
    assert.deepEqual(wireguardCheck(undefined), {
      verdict: 'fail',
      check: 'wireguard',
      detail:
        'neither the kernel module (not loaded, not found by modprobe) nor wireguard-go (not in PATH): ' +
        'Install wireguard-go (Debian: apt-get install wireguard-go), or load the kernel module (modprobe wireguard)',
    });
  });

  it('the clock fails past ±300 s, warns past 60 s, passes within, and is a warning when nothing answered', function () {
    const at = (date: string | null, localIso: string) => ({ from: 'harbor.sg:443', date, localMs: Date.parse(localIso) });
    assert.deepEqual(clockCheck([at('Sat, 05 Dec 2026 06:10:00 GMT', '2026-12-05T06:00:00Z')], 300), {
      verdict: 'fail',
      check: 'clock',
      detail:
        '600 s behind harbor.sg:443: signatures and operator requests allow ±300 s; synchronise the clock (NTP: systemctl enable --now systemd-timesyncd)',
    });
    assert.deepEqual(clockCheck([at('Sat, 05 Dec 2026 06:00:00 GMT', '2026-12-05T06:01:30Z')], 300), {
      verdict: 'warn',
      check: 'clock',
      detail: '90 s ahead of harbor.sg:443 (±300 s allowed): check that NTP runs',
    });
    assert.deepEqual(clockCheck([at('Sat, 05 Dec 2026 06:00:00 GMT', '2026-12-05T06:00:00.400Z')], 300), {
      verdict: 'ok',
      check: 'clock',
      detail: 'in step with harbor.sg:443',
    });
    assert.equal(clockCheck([at(null, '2026-12-05T06:00:00Z'), at('not a date', '2026-12-05T06:00:00Z')], 300).verdict, 'warn');
    assert.equal(
      clockCheck([], 300).detail,
      'not checked: no HTTP answer with a Date header (source, registry or Harbor) to compare with; keep the clock synchronised (NTP)',
    );
  });

  it('the worst of several answers decides the clock', function () {
    const samples = [
      { from: 'registry:5000', date: 'Sat, 05 Dec 2026 06:00:00 GMT', localMs: Date.parse('2026-12-05T06:00:10Z') },
      { from: 'harbor:443', date: 'Sat, 05 Dec 2026 06:00:00 GMT', localMs: Date.parse('2026-12-05T06:05:01Z') },
    ];
    assert.equal(clockCheck(samples, 300).verdict, 'fail');
    assert.match(clockCheck(samples, 300).detail, /^301 s ahead of harbor:443:/);
  });

  it('ss output names who holds the proxy port: free, dfdaemon, or another process', function () {
    const ssLine = 'LISTEN 0      511        0.0.0.0:4001      0.0.0.0:*    users:(("squatter",pid=4242,fd=19))\n';
    assert.deepEqual(parseSs(ssLine), [{ process: 'squatter', pid: 4242 }]);
    assert.deepEqual(parseSs('LISTEN 0 511 0.0.0.0:4001 0.0.0.0:*\n'), [{}]);
    assert.deepEqual(proxyPortCheck(4001, []), { verdict: 'ok', check: 'dfdaemon-proxy', detail: "port 4001 is free for dfdaemon's proxy" });
    assert.deepEqual(proxyPortCheck(4001, [{ process: 'dfdaemon', pid: 7 }]), {
      verdict: 'ok',
      check: 'dfdaemon-proxy',
      detail: 'port 4001 is held by dfdaemon (pid 7)',
    });
    assert.deepEqual(proxyPortCheck(4001, [{ process: 'squatter', pid: 4242 }]), {
      verdict: 'fail',
      check: 'dfdaemon-proxy',
      detail: "port 4001 is held by squatter (pid 4242), not dfdaemon: stop it or move it, or set mirror.dragonfly.proxyPort in the region's file",
    });
    assert.equal(proxyPortCheck(4001, { error: 'ss is not installed' }).verdict, 'warn');
  });

  it('secrets are named, never shown, with why each one failed', function () {
    assert.deepEqual(secretsCheck([]), { verdict: 'ok', check: 'secrets', detail: 'none referenced by this host' });
    assert.deepEqual(secretsCheck([{ ref: 'env:A' }, { ref: 'file:/k' }]), { verdict: 'ok', check: 'secrets', detail: '2 resolvable: env:A, file:/k' });
    assert.deepEqual(
      secretsCheck([{ ref: 'env:A' }, { ref: 'env:B', error: 'The secret env:B cannot be resolved: the environment variable B is not set on this host.' }]),
      { verdict: 'fail', check: 'secrets', detail: '1 of 2 cannot be resolved: env:B (the environment variable B is not set on this host)' },
    );
  });

  it('a state directory that cannot be written fails with what to do', function () {
    assert.deepEqual(stateDirCheck('/var/lib/mirrornet', { error: 'is not writable (EROFS)' }), {
      verdict: 'fail',
      check: 'state-dir',
      detail: "/var/lib/mirrornet is not writable (EROFS): give --state-dir a directory the agent's user can write",
    });
    assert.equal(stateDirCheck('/s', { writable: true }).detail, '/s is writable');
  });

  it('one aligned line per check; a warning does not fail, a failure exits 1', function () {
    const checks = [
      { verdict: 'ok' as const, check: 'node', detail: 'Node.js 22.12.0' },
      { verdict: 'warn' as const, check: 'clock', detail: 'not checked' },
    ];
    assert.equal(formatChecks(checks, 'text'), 'ok    node   Node.js 22.12.0\nwarn  clock  not checked\n');
    assert.equal(exitCodeOf(checks), 0);
    const failing = [...checks, { verdict: 'fail' as const, check: 'dfdaemon-proxy', detail: 'held' }];
    assert.equal(exitCodeOf(failing), 1);
    assert.deepEqual(JSON.parse(formatChecks(failing, 'json')), { ok: false, checks: failing });
  });
});

describe("doctor reads the host as the agent's service does", function () {
  it("reads the unit's environment file (quotes removed, comments skipped), and nothing when it is not there", async function () {
    const dir = mkdtempSync(join(tmpdir(), 'mn-doctor-env-'));
    try {
      const file = join(dir, 'agent.env');
      writeFileSync(file, '# the agent\nMIRRORNET_REGION=cn-shanghai\nHARBOR_ROBOT_SECRET="s3cr3t value"\nexport WG_KEY=\'k=\'\n  \nnot a line\n');
      assert.deepEqual(await serviceEnvironment(file), { MIRRORNET_REGION: 'cn-shanghai', HARBOR_ROBOT_SECRET: 's3cr3t value', WG_KEY: 'k=' });
      assert.deepEqual(await serviceEnvironment(join(dir, 'absent.env')), {});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("checks git with the unit's GIT_SSH_COMMAND: the same key and known hosts in the state directory", function () {
    const unit = readFileSync(fileURLToPath(new URL('../../../deploy/mirrornet-agent.service', import.meta.url)), 'utf8');
    assert.ok(unit.includes(`Environment="GIT_SSH_COMMAND=${agentGitSshCommand('/var/lib/mirrornet')}"`), 'the unit sets what doctor checks with');
    assert.equal(
      agentGitSshCommand('/var/lib/mirrornet'),
      'ssh -i /var/lib/mirrornet/ssh/id_ed25519 -o UserKnownHostsFile=/var/lib/mirrornet/ssh/known_hosts -o StrictHostKeyChecking=yes ' +
        '-o IdentitiesOnly=yes -o BatchMode=yes',
    );
  });
});
