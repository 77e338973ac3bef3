// Failures of the environment — a read-only or full file system, a path that crosses a file, a port in
// use — end as a sentence that names what failed, the path or address, and what to do; never as
// "internal error".
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeFsError, HostFiles } from '../../src/host/files.js';
import { MirrornetError } from '../../src/errors.js';
import { StateStore } from '../../src/reconcile/state.js';
import { missingCommand, missingRoot, need } from '../support/capabilities.js';

const CLI = fileURLToPath(new URL('../../../bin/mirrornet.js', import.meta.url));
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
