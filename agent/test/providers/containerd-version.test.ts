// The containerd on the host decides which hosts.toml keys take effect: the provider asks `containerd --version`
// (only when it writes a key some releases ignore) and the plan says what the installed release ignores. The
// fake Exec plays each release; the real containerd of this machine proves the version table against what it
// actually does with dial_timeout.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Desired, DesiredRegistryMirror } from '../../src/desired/types.js';
import { CommandError, localExec, type Exec, type ExecResult } from '../../src/host/exec.js';
import { HostFiles } from '../../src/host/files.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { createLogger } from '../../src/log.js';
import { containerdIgnores, DIAL_TIMEOUT } from '../../src/model/constraints/containerd.js';
import { containerdProvider, parseContainerdVersion, versionNotes } from '../../src/providers/containerd/index.js';
import { DEFAULT_COMMANDS, type ProviderContext } from '../../src/providers/types.js';
import { missingCommand, need } from '../support/capabilities.js';

const DEBIAN_12 = 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n';
const upstream = (v: string) => `containerd github.com/containerd/containerd/v2 v${v} 0123456789abcdef0123456789abcdef01234567\n`;

interface FakeExec extends Exec {
  calls: string[];
}

/** An Exec that answers `containerd --version` the way one release does (or fails the way a host can). */
function fakeExec(answer: ExecResult | Error): FakeExec {
  const calls: string[] = [];
  return {
    calls,
    run(cmd, args) {
      calls.push([cmd, ...args].join(' '));
      if (cmd !== 'containerd' || args.join(' ') !== '--version') return Promise.reject(new Error(`unexpected command ${cmd} ${args.join(' ')}`));
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

const ok = (stdout: string): ExecResult => ({ code: 0, stdout, stderr: '' });

function mirror(over: Partial<DesiredRegistryMirror> = {}): DesiredRegistryMirror {
  return { host: 'harbor.example.internal', server: 'https://harbor.example.internal', mirror: 'http://127.0.0.1:4001', ...over };
}

function desired(registries: DesiredRegistryMirror[]): Desired {
  return { site: 'ap-test', roles: ['node'], routes: [], wireguard: [], containerd: { registries } };
}

describe('containerd provider: what the installed containerd reads', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mn-ctrd-ver-'));
    mkdirSync(join(root, 'etc/containerd'), { recursive: true });
    writeFileSync(
      join(root, 'etc/containerd/config.toml'),
      'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n',
    );
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function planNotes(exec: Exec, want: Desired): Promise<string[]> {
    const ctx: ProviderContext = {
      exec,
      files: new HostFiles(root),
      secrets: hostSecrets({ env: {} }),
      log: createLogger({ level: 'silent', destination: { write: () => undefined } }),
      commands: DEFAULT_COMMANDS,
      notes: [],
      inventory: [],
    };
    await containerdProvider.read(ctx, want);
    return ctx.notes;
  }

  it("reads the release from Debian's and from upstream's `containerd --version`", () => {
    assert.deepEqual(parseContainerdVersion(DEBIAN_12), { major: 1, minor: 6, patch: 20 });
    assert.deepEqual(parseContainerdVersion(upstream('2.1.0')), { major: 2, minor: 1, patch: 0 });
    assert.deepEqual(parseContainerdVersion('containerd github.com/containerd/containerd v1.7.34 05044ec0a9a75232cad458027ca83437aae3f4da\n'), {
      major: 1,
      minor: 7,
      patch: 34,
    });
    assert.equal(parseContainerdVersion(''), undefined);
    assert.equal(parseContainerdVersion('containerd: command not found'), undefined);
  });

  it('containerd 1.6.20 (Debian 12): the plan says dial_timeout is ignored, which releases read it, and what that costs', async () => {
    const notes = await planNotes(fakeExec(ok(DEBIAN_12)), desired([mirror({ dialTimeout: '2s' })]));
    assert.deepEqual(notes, [
      'containerd 1.6.20 on this host ignores dial_timeout (containerd 2.1.0 and later, 2.0.7 and later in the 2.0 line) in hosts.toml: ' +
        "Region.mirror.dialTimeout has no effect here: when dfdaemon's port does not answer, a pull waits up to containerd's built-in 30s " +
        'dial timeout before it falls back to the registry. Upgrade containerd to use it.',
    ]);
  });

  it('one note per host, however many registries carry the key', async () => {
    const two = desired([mirror({ dialTimeout: '2s' }), mirror({ host: 'docker.io', server: 'https://registry-1.docker.io', dialTimeout: '2s' })]);
    const notes = await planNotes(fakeExec(ok(DEBIAN_12)), two);
    assert.equal(notes.length, 1);
  });

  it('1.7.34 and 2.0.6 ignore dial_timeout; 2.0.7, 2.1.0 and 2.3.4 read it (no note)', async () => {
    for (const [v, ignored] of [
      ['1.7.34', true],
      ['2.0.6', true],
      ['2.0.7', false],
      ['2.1.0', false],
      ['2.3.4', false],
    ] as const) {
      const notes = await planNotes(fakeExec(ok(upstream(v))), desired([mirror({ dialTimeout: '2s' })]));
      assert.equal(notes.length, ignored ? 1 : 0, `${v}: ${notes.join(' | ')}`);
      if (ignored) assert.match(notes[0]!, new RegExp(`^containerd ${v.replace(/\./g, '\\.')} on this host ignores dial_timeout`));
    }
  });

  it('asks `containerd --version` once per agent while the containerd binary stays the same, again after it changed', async () => {
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'containerd'), '#!/bin/sh\n', { mode: 0o755 });
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path ?? ''}`;
    try {
      const exec = fakeExec(ok(DEBIAN_12));
      const want = desired([mirror({ dialTimeout: '2s' })]);
      const first = await planNotes(exec, want);
      assert.equal((await planNotes(exec, want)).join(), first.join(), 'the same note from the answer kept');
      assert.deepEqual(exec.calls, ['containerd --version']);
      writeFileSync(join(bin, 'containerd'), '#!/bin/sh\n# upgraded\n'); // another size: another binary
      await planNotes(exec, want);
      assert.deepEqual(exec.calls, ['containerd --version', 'containerd --version']);
    } finally {
      process.env['PATH'] = path;
    }
  });

  it('no version-dependent key written (no dialTimeout): containerd --version is not even run', async () => {
    const exec = fakeExec(ok(DEBIAN_12));
    assert.deepEqual(await planNotes(exec, desired([mirror()])), []);
    assert.deepEqual(exec.calls, []);
  });

  it('containerd missing, failing or printing something else: a note that the release is unknown, never an exception', async () => {
    const missing = new CommandError('containerd', ['--version'], undefined, {
      cause: Object.assign(new Error('spawn containerd ENOENT'), { code: 'ENOENT' }),
    });
    for (const [answer, says] of [
      [missing, /containerd is not installed on this host/],
      [{ code: 1, stdout: '', stderr: 'permission denied\nmore' }, /`containerd --version` exited 1: permission denied\)/],
      [ok('hello\n'), /`containerd --version` printed "hello"/],
    ] as const) {
      const notes = await planNotes(fakeExec(answer), desired([mirror({ dialTimeout: '2s' })]));
      assert.equal(notes.length, 1, notes.join(' | '));
      assert.match(notes[0]!, /^mirrornet cannot tell which containerd runs here \(/);
      assert.match(notes[0]!, says);
      assert.match(notes[0]!, /whether it reads dial_timeout \(containerd 2\.1\.0 and later, 2\.0\.7 and later in the 2\.0 line\) in hosts\.toml\.$/);
    }
  });

  it("this machine's containerd: its `containerd --version` parses, and the plan's note matches the version table", async function () {
    need(this, missingCommand('containerd', 'containerd'));
    const res = await localExec().run('containerd', ['--version']);
    const version = parseContainerdVersion(res.stdout);
    assert.ok(version, res.stdout);
    const notes = await versionNotes({ exec: localExec() }, ['[host."http://127.0.0.1:4001"]\ndial_timeout = "2s"\n']);
    assert.deepEqual(notes, containerdIgnores([DIAL_TIMEOUT], version));
  });

  describe("this machine's containerd, running: which hosts.toml it reads", function () {
    this.timeout(60_000);
    let tmp: string;
    let containerd: ChildProcess | undefined;
    let sock = '';
    let log = '';

    const run = (cmd: string, args: string[]) =>
      new Promise<ExecResult>((resolve) => {
        const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? 1, stdout, stderr });
        });
      });

    /** A long-running program; its stderr is kept for the failure message. */
    const start = (cmd: string, args: string[]) => spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });

    const closedPort = () =>
      new Promise<number>((resolve) => {
        const s = net.createServer();
        s.listen(0, '127.0.0.1', () => {
          const port = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(port));
        });
      });

    before(async function () {
      need(this, missingCommand('containerd', 'containerd'));
      need(this, missingCommand('ctr', 'containerd'));
      tmp = mkdtempSync(join(tmpdir(), 'mn-ctrd-dial-'));
      writeFileSync(join(tmp, 'config.toml'), 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
      sock = join(tmp, 'c.sock');
      containerd = start('containerd', ['-c', join(tmp, 'config.toml'), '--root', join(tmp, 'root'), '--state', join(tmp, 'state'), '--address', sock]);
      containerd.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      for (let i = 0; i < 100; i++) {
        if (existsSync(sock) && (await run('ctr', ['-a', sock, 'version'])).code === 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`containerd did not start:\n${log}`);
    });

    after(async () => {
      if (containerd && containerd.exitCode === null) {
        const gone = new Promise((r) => containerd!.once('exit', r));
        containerd.kill('SIGTERM');
        await gone;
      }
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    /** Pull through a hosts.toml whose server and only host are closed ports; true when containerd tried the host first. */
    async function triesHost(hostLines: string): Promise<{ tried: boolean; stderr: string }> {
      // Both ports are closed, so each pull fails at once; the error names the first host containerd tried.
      const registry = await closedPort();
      const dfdaemon = await closedPort();
      const hostsDir = join(tmp, `certs.d-${registry}`);
      mkdirSync(join(hostsDir, `127.0.0.1_${registry}_`), { recursive: true });
      writeFileSync(
        join(hostsDir, `127.0.0.1_${registry}_`, 'hosts.toml'),
        `server = "http://127.0.0.1:${registry}"\n[host."http://127.0.0.1:${dfdaemon}"]\n${hostLines}\n`,
      );
      const out = await run('ctr', [
        '-a',
        sock,
        '-n',
        'mirrornet-test',
        'content',
        'fetch',
        '--hosts-dir',
        hostsDir,
        '--plain-http',
        `127.0.0.1:${registry}/x/y:1`,
      ]);
      assert.notEqual(out.code, 0);
      return { tried: out.stderr.includes(`127.0.0.1:${dfdaemon}`), stderr: out.stderr };
    }

    const installed = async () => parseContainerdVersion((await run('containerd', ['--version'])).stdout)!;

    it('control: a hosts.toml it reads sends the pull to the host first', async () => {
      const out = await triesHost('capabilities = ["pull", "resolve"]');
      assert.ok(out.tried, out.stderr);
    });

    it('a dial_timeout Go cannot parse: a release that reads the key drops the whole file, one that ignores it still uses the mirror', async () => {
      const out = await triesHost('capabilities = ["pull", "resolve"]\ndial_timeout = "2x"');
      const version = await installed();
      const ignores = containerdIgnores([DIAL_TIMEOUT], version).length === 1;
      assert.equal(
        out.tried,
        ignores,
        `containerd ${version.major}.${version.minor}.${version.patch}: the version table says it ${ignores ? 'ignores' : 'reads'} dial_timeout, ` +
          `but ctr ${out.tried ? 'used' : 'did not use'} the mirror host:\n${out.stderr}`,
      );
    });

    it('a capability the release does not know drops the whole file (referrers is known from 2.2)', async () => {
      const out = await triesHost('capabilities = ["pull", "resolve", "referrers"]');
      const v = await installed();
      const knowsReferrers = v.major > 2 || (v.major === 2 && v.minor >= 2);
      assert.equal(out.tried, knowsReferrers, out.stderr);
      if (!knowsReferrers) assert.match(out.stderr, /unknown capability referrers/);
    });
  });
});
