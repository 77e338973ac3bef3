// Failures of the environment — a read-only or full file system, a path that crosses a file, a port in
// use, a program that is not installed, a service that cannot be reached — end as a sentence that names what
// failed, the path or address, and what to do, with exit code 1; never as "internal error".
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localExec } from '../../src/host/exec.js';
import { describeFsError, HostFiles } from '../../src/host/files.js';
import { MirrornetError } from '../../src/errors.js';
import { StateStore } from '../../src/reconcile/state.js';
import { missingCommand, missingRoot, need } from '../support/capabilities.js';

const CLI = fileURLToPath(new URL('../../../bin/mirrornet.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../..', import.meta.url));
const errno = (code: string) => Object.assign(new Error(code), { code });

describe('environment failures are sentences', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mn-env-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('says what each file-system failure means and what to do, and leaves other errors alone', () => {
    const said = (code: string) => describeFsError('write', '/etc/containerd/certs.d/x/hosts.toml', errno(code))?.userMessage;
    assert.equal(
      said('EROFS'),
      'Cannot write /etc/containerd/certs.d/x/hosts.toml: it is on a read-only file system. ' +
        'Mount it read-write (in a systemd unit: ReadWritePaths=/etc/containerd/certs.d/x).',
    );
    assert.equal(
      said('EACCES'),
      'Cannot write /etc/containerd/certs.d/x/hosts.toml: permission denied. Run the agent as root or give it write access to /etc/containerd/certs.d/x.',
    );
    assert.equal(said('ENOSPC'), 'Cannot write /etc/containerd/certs.d/x/hosts.toml: no space left on its device. Free some space; nothing was changed.');
    assert.equal(describeFsError('write', '/x', errno('EBADF')), undefined);
    assert.equal(describeFsError('write', '/x', new Error('no code')), undefined);
  });

  it('a host file whose path crosses a file fails with the path and what to check', async () => {
    writeFileSync(join(dir, 'etc'), 'a file where a directory should be');
    const err = await new HostFiles(dir).writeAtomic('/etc/dragonfly/dfdaemon.yaml', 'x').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof MirrornetError, String(err));
    assert.equal(
      err.userMessage,
      `Cannot write ${dir}/etc/dragonfly/dfdaemon.yaml: a part of that path is a file, not a directory. Check --root and --state-dir.`,
    );
  });

  it('a state directory that cannot be created fails the lock with the path and what to check', async () => {
    writeFileSync(join(dir, 'state'), 'a file');
    await assert.rejects(
      new StateStore(join(dir, 'state', 'mirrornet')).withLock(async () => undefined),
      (e: MirrornetError) =>
        e.userMessage ===
        `Cannot create the state directory ${dir}/state/mirrornet: a part of that path is a file, not a directory. Check --root and --state-dir.`,
    );
  });

  it('a read-only file system is named as such (root: a read-only tmpfs)', function () {
    need(this, missingRoot() ?? missingCommand('mount', 'mount'));
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    return new HostFiles(ro)
      .writeAtomic('/etc/docker/daemon.json', '{}')
      .then(
        () => assert.fail('a write to a read-only file system succeeded'),
        (e: MirrornetError) => {
          assert.equal(
            e.userMessage,
            `Cannot write ${ro}/etc/docker/daemon.json: it is on a read-only file system. ` +
              `Mount it read-write (in a systemd unit: ReadWritePaths=${ro}/etc/docker).`,
          );
        },
      )
      .finally(() => execFileSync('umount', [ro]));
  });

  it('a program that is not installed is named with the package to install, inside a network namespace too', async () => {
    const empty = join(dir, 'bin');
    mkdirSync(empty);
    const failure = (netns?: string) =>
      localExec(netns ? { netns } : {})
        .run('wg', ['show', 'all', 'dump'], { env: { PATH: empty } })
        .then(
          () => assert.fail('ran without wg'),
          (e: MirrornetError) => e.userMessage,
        );
    assert.equal(
      await failure(),
      'The command `wg show all dump` cannot run: wg is not installed on this host (not found in PATH). ' +
        'Install wireguard-tools (Debian: apt-get install wireguard-tools).',
    );
    assert.equal(
      await failure('mn-test-ns'),
      'The command `wg show all dump` cannot run: ip is not installed on this host (not found in PATH) (it runs wg inside the network namespace). ' +
        'Install iproute2 (Debian: apt-get install iproute2).',
    );
  });

  /** `mirrornet <args>` in a child process with the repository's example fleet; `env` on top of ours. */
  function cli(args: string[], env: Record<string, string> = {}) {
    return spawnSync(process.execPath, [CLI, ...args, '--repo', REPO, '--root', dir], {
      encoding: 'utf8',
      timeout: 50_000,
      env: { ...process.env, MIRRORNET_LOG_LEVEL: 'silent', ...env },
    });
  }

  /** A port on 127.0.0.1 where nothing listens. */
  async function closedPort(): Promise<number> {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const { port } = srv.address() as net.AddressInfo;
    await new Promise((r) => srv.close(r));
    return port;
  }

  it('plan on a gateway without iproute2 exits 1 and says what to install', () => {
    const empty = join(dir, 'bin');
    mkdirSync(empty);
    const r = cli(['plan', '--region', 'cn-hangzhou-idc', '--roles', 'gateway'], { PATH: empty });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr,
      'mirrornet: The command `ip -j link show` cannot run: ip is not installed on this host (not found in PATH). ' +
        'Install iproute2 (Debian: apt-get install iproute2).\n',
    );
  });

  it('plan on a core whose PostgreSQL is unreachable exits 1 with the address and what to check', async () => {
    const port = await closedPort();
    const r = cli(['plan', '--region', 'cn-beijing', '--roles', 'hub', '--pg-admin-url', `postgres://postgres@127.0.0.1:${port}/postgres`], {
      HARBOR_ADMIN_PASSWORD: 'x',
    });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr,
      `mirrornet: Cannot reach PostgreSQL at 127.0.0.1:${port}: the connection was refused (nothing listens on that port). ` +
        'Check that PostgreSQL runs there and that the address and port are right.\n',
    );
  });

  it('plan on a core whose Harbor is unreachable exits 1 with the URL and what to check', async () => {
    const port = await closedPort();
    const r = cli(['plan', '--region', 'cn-beijing', '--roles', 'hub', '--harbor-url', `http://127.0.0.1:${port}`], { HARBOR_ADMIN_PASSWORD: 'x' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^mirrornet: Cannot reach Harbor at http://127\\.0\\.0\\.1:${port}: the connection was refused \\(nothing listens on that port\\)\\. ` +
          'Check that Harbor runs there and that the address and port are right\\. \\(GET /api/v2\\.0/[a-z/]+, 5 attempt\\(s\\)\\.\\)\\n$',
      ),
    );
  });

  it('an agent without git says so instead of blaming the URL', () => {
    const empty = join(dir, 'bin');
    mkdirSync(empty);
    const r = spawnSync(
      process.execPath,
      [CLI, 'agent', '--once', '--region', 'cn-hangzhou-idc', '--repo-url', REPO, '--root', dir, '--listen', '127.0.0.1:0', '--no-chat'],
      { encoding: 'utf8', timeout: 50_000, env: { ...process.env, PATH: empty, MIRRORNET_LOG_LEVEL: 'silent' } },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      (JSON.parse(r.stdout) as { reason: string }).reason,
      `Cannot clone ${REPO} (branch main): git is not installed on this host (not found in PATH). Install git (Debian: apt-get install git).`,
    );
  });

  it('mirrornet schema into a read-only directory exits 1 with the path (root: a read-only tmpfs)', function () {
    need(this, missingRoot() ?? missingCommand('mount', 'mount'));
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    try {
      const r = spawnSync(process.execPath, [CLI, 'schema', '--out', ro], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(
        r.stderr,
        `mirrornet: Cannot write ${ro}/region.schema.json: it is on a read-only file system. Mount it read-write (in a systemd unit: ReadWritePaths=${ro}).\n`,
      );
    } finally {
      execFileSync('umount', [ro]);
    }
  });

  it('an agent whose --listen port is taken exits 1 with a sentence, not an internal error', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const { port } = busy.address() as net.AddressInfo;
    try {
      const r = spawnSync(
        process.execPath,
        [CLI, 'agent', '--region', 'us-virginia', '--repo-url', join(dir, 'none.git'), '--root', dir, '--listen', `127.0.0.1:${port}`, '--no-chat'],
        { encoding: 'utf8', timeout: 20_000, env: { ...process.env, MIRRORNET_LOG_LEVEL: 'silent' } },
      );
      assert.equal(r.status, 1, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `mirrornet: Cannot listen on 127.0.0.1:${port}: ` +
          'the address is in use (another agent, or another program on that port): stop it or pick another --listen.',
      );
    } finally {
      busy.close();
    }
  });
});
