// `mirrornet doctor` on a namespace host (its own network namespace, a temp root, a PATH of chosen programs),
// with and without each prerequisite: programs, WireGuard, containerd's config_path, the proxy port, the
// source, the state directory, Harbor and the clock. Expected lines are written out; versions come from fake
// programs so they do not depend on the machine.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { doctorCommand, type DoctorDeps, type DoctorOptions } from '../../src/cli/doctor.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { cli } from '../support/cli.js';
import { missingCommand, missingRoot, need } from '../support/capabilities.js';
import { gitSync } from '../support/git.js';
import { Lab, sh } from '../integration/netns.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/fleet-node', import.meta.url));
const CONTAINERD_CONFIG = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n';
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

/** Fake programs: each prints one version line (`ip -V` included). */
const FAKE: Record<string, string> = {
  ip: 'ip utility, iproute2-6.1.0',
  wg: 'wireguard-tools v1.0.20210914',
  'wireguard-go': 'wireguard-go v0.0.20230223',
  iptables: 'iptables v1.8.9 (nf_tables)',
  containerd: 'containerd github.com/containerd/containerd/v2 v2.1.0 abc123',
  dfdaemon: 'dfdaemon 1.5.1',
};

interface Served {
  url: string;
  host: string;
  /** The Date header every answer carries. */
  date: string;
  close(): Promise<void>;
}

/** A registry and Harbor stand-in on loopback: /v2/, the site's manifest (HEAD), /api/v2.0/ping; every answer dated `date`. */
async function serve(date: string): Promise<Served> {
  const server = http.createServer((req, res) => {
    res.setHeader('Date', served.date);
    if (req.url === '/api/v2.0/ping') return void res.end('Pong');
    if (req.url === '/v2/') return void res.end('{}');
    if (req.method === 'HEAD' && req.url === '/v2/mirrornet/fleet/manifests/main.ap-jakarta') {
      res.setHeader('Docker-Content-Digest', DIGEST);
      return void res.end();
    }
    res.statusCode = 404;
    res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const served: Served = {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    date,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return served;
}

describe('mirrornet doctor on a namespace host', function () {
  this.timeout(60_000);
  let lab: Lab;
  let ns: string;
  let fleet: string;
  let registry: Served;
  const children: ChildProcess[] = [];

  before(async function () {
    need(this, missingRoot());
    need(this, missingCommand('ip', 'iproute2'));
    need(this, missingCommand('ss', 'iproute2'));
    need(this, missingCommand('git', 'git'));
    lab = new Lab();
    ns = lab.netns('dr');
    fleet = lab.tmpDir('fleet');
    cpSync(FIXTURE, fleet, { recursive: true });
    registry = await serve('Sat, 05 Dec 2026 06:00:00 GMT');
  });

  after(async function () {
    for (const c of children) c.kill('SIGKILL');
    await registry?.close();
    await lab?.cleanup();
  });

  /** A PATH directory with these fake programs (and real ones, by name, symlinked). */
  function bin(fakes: string[], real: string[] = []): string {
    const dir = lab.tmpDir('bin');
    for (const name of fakes) {
      writeFileSync(join(dir, name), `#!/bin/sh\necho '${FAKE[name]}'\n`);
      chmodSync(join(dir, name), 0o755);
    }
    for (const name of real) symlinkSync(sh('sh', ['-c', `command -v ${name}`]).stdout.trim(), join(dir, name));
    return dir;
  }

  /** A host root with these files (and directories, for paths ending in /). */
  function root(files: Record<string, string> = {}): string {
    const dir = lab.tmpDir('root');
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path.endsWith('/') ? path : join(path, '..')), { recursive: true });
      if (!path.endsWith('/')) writeFileSync(join(dir, path), content);
    }
    return dir;
  }

  async function doctor(
    opts: Partial<DoctorOptions> & { region: string; roles: string; root: string },
    deps: Partial<DoctorDeps> & { path: string },
  ): Promise<{ code: number; stdout: string; lines: Map<string, string> }> {
    let stdout = '';
    const io = { stdout: (s: string) => (stdout += s), stderr: (s: string) => (stdout += s), color: false };
    const code = await doctorCommand({ repo: fleet, branch: 'main', netns: ns, stateDir: join(opts.root, 'var/lib/mirrornet'), format: 'text', ...opts }, io, {
      nodeVersion: 'v22.12.0',
      env: {},
      secrets: hostSecrets({ env: {}, root: opts.root }),
      timeoutMs: 5_000,
      now: () => Date.parse('2026-12-05T06:00:00Z'),
      ...deps,
    });
    const lines = new Map(
      stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => [l.split(/\s+/)[1]!, l]),
    );
    return { code, stdout, lines };
  }

  it('a node host with every prerequisite passes every check and exits 0', async function () {
    const r = root({ 'etc/containerd/config.toml': CONTAINERD_CONFIG, 'etc/containerd/certs.d/': '', 'var/lib/mirrornet/': '' });
    const b = bin(['ip', 'containerd', 'dfdaemon']);
    const { code, stdout } = await doctor({ region: 'ap-jakarta', roles: 'node', root: r, source: `oci+http://${registry.host}/mirrornet/fleet` }, { path: b });
    assert.equal(
      stdout,
      [
        'ok    node               Node.js 22.12.0',
        `ok    desired            ap-jakarta (node) from ${fleet} at working-tree`,
        `ok    source             ${registry.host}/mirrornet/fleet:main.ap-jakarta is sha256:0123456789ab`,
        `ok    state-dir          ${r}/var/lib/mirrornet is writable`,
        'ok    secrets            none referenced by this host',
        `ok    containerd         ${b}/containerd (containerd github.com/containerd/containerd/v2 v2.1.0 abc123)`,
        'ok    containerd-config  config_path is /etc/containerd/certs.d',
        'ok    certs-dir          /etc/containerd/certs.d exists',
        `ok    dfdaemon           ${b}/dfdaemon (dfdaemon 1.5.1)`,
        "ok    dfdaemon-proxy     port 4001 is free for dfdaemon's proxy",
        `ok    clock              in step with ${registry.host}`,
        '',
      ].join('\n'),
    );
    assert.equal(code, 0);
    assert.deepEqual(readdirSync(join(r, 'var/lib/mirrornet')), [], 'the temp file that proved the state directory writable is gone');
  });

  it("containerd's config.toml without config_path fails with what to add; no dfdaemon in PATH fails too", async function () {
    const r = root({ 'etc/containerd/config.toml': 'version = 2\n' });
    const { code, lines } = await doctor({ region: 'ap-jakarta', roles: 'node', root: r }, { path: bin(['ip', 'containerd']) });
    assert.equal(
      lines.get('containerd-config'),
      'fail  containerd-config  ' +
        'containerd\'s config_path is not set, so containerd ignores hosts.toml: add `[plugins."io.containerd.grpc.v1.cri".registry] ' +
        'config_path = "/etc/containerd/certs.d"` (containerd 1.x, version = 2) or `[plugins."io.containerd.cri.v1.images".registry] ' +
        'config_path = "/etc/containerd/certs.d"` (2.x, version = 3) to /etc/containerd/config.toml, then restart containerd ' +
        '(config.toml changes need a restart; hosts.toml files do not). mirrornet writes the files there meanwhile.',
    );
    assert.equal(lines.has('certs-dir'), false);
    assert.equal(
      lines.get('dfdaemon'),
      "fail  dfdaemon           dfdaemon is not in PATH (the region's P2P peer): install Dragonfly's client (github.com/dragonflyoss/client releases)",
    );
    assert.equal(lines.get('source'), 'warn  source             not checked: give --repo-url URL or --source oci://HOST/PROJECT/REPO, what the agent follows');
    assert.equal(code, 1);
  });

  it('a gateway without wg and wireguard-go in PATH fails both; a loaded kernel module is enough for the tunnel', async function () {
    const key = 'aGVsbG8tdGhpcy1pcy1ub3QtYS1yZWFsLWtleS0xMjM=';
    const files = { 'etc/mirrornet/wireguard/eu-amsterdam-idc.key': key };
    const without = await doctor({ region: 'eu-amsterdam-idc', roles: 'gateway', root: root(files) }, { path: bin(['ip', 'iptables']) });
    assert.equal(
      without.lines.get('wg'),
      'fail  wg         wg is not in PATH (WireGuard tunnels): Install wireguard-tools (Debian: apt-get install wireguard-tools)',
    );
    assert.equal(
      without.lines.get('wireguard'),
      'fail  wireguard  neither the kernel module (not loaded, not found by modprobe) nor wireguard-go (not in PATH): ' +
        'Install wireguard-go (Debian: apt-get install wireguard-go), or load the kernel module (modprobe wireguard)',
    );
    assert.equal(without.lines.get('secrets'), 'ok    secrets    1 resolvable: file:/etc/mirrornet/wireguard/eu-amsterdam-idc.key');
    assert.equal(without.stdout.includes(key), false, 'the key itself is never printed');
    assert.equal(without.code, 1);

    const kernel = await doctor(
      { region: 'eu-amsterdam-idc', roles: 'gateway', root: root({ ...files, 'sys/module/wireguard/': '' }) },
      { path: bin(['ip', 'wg', 'iptables']) },
    );
    assert.equal(kernel.lines.get('wireguard'), 'ok    wireguard  kernel WireGuard (module loaded)');
    assert.equal(kernel.lines.get('iptables'), `ok    iptables   ${kernel.stdout.match(/\S+\/iptables/)![0]} (iptables v1.8.9 (nf_tables))`);
    assert.equal(kernel.code, 0);

    const missingKey = await doctor({ region: 'eu-amsterdam-idc', roles: 'gateway', root: root() }, { path: bin(['ip', 'wg', 'wireguard-go', 'iptables']) });
    assert.equal(
      missingKey.lines.get('secrets'),
      'fail  secrets    1 of 1 cannot be resolved: file:/etc/mirrornet/wireguard/eu-amsterdam-idc.key ' +
        '(the file /etc/mirrornet/wireguard/eu-amsterdam-idc.key cannot be read (ENOENT))',
    );
    assert.equal(missingKey.code, 1);
  });

  it("dfdaemon's proxy port held by another process fails; held by dfdaemon itself passes", async function () {
    const r = root({ 'etc/containerd/config.toml': CONTAINERD_CONFIG, 'etc/containerd/certs.d/': '' });
    const b = bin(['ip', 'containerd', 'dfdaemon']);
    for (const [name, verdict] of [
      ['squatter', 'fail'],
      ['dfdaemon', 'ok'],
    ] as const) {
      // A process whose name is `name` (a link to node) listening on 4001 inside the host's namespace.
      const dir = lab.tmpDir('proc');
      symlinkSync(process.execPath, join(dir, name));
      const child = lab.spawnIn(ns, join(dir, name), ['-e', "require('net').createServer().listen(4001, '0.0.0.0', () => console.log('up'))"]);
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('up') && resolve());
        child.once('exit', (c) => reject(new Error(`the listener exited ${c}`)));
      });
      const { code, lines } = await doctor({ region: 'ap-jakarta', roles: 'node', root: r }, { path: b });
      assert.equal(
        lines.get('dfdaemon-proxy'),
        verdict === 'fail'
          ? `fail  dfdaemon-proxy     port 4001 is held by squatter (pid ${child.pid}), not dfdaemon: ` +
              "stop it or move it, or set mirror.dragonfly.proxyPort in the region's file"
          : `ok    dfdaemon-proxy     port 4001 is held by dfdaemon (pid ${child.pid})`,
      );
      assert.equal(code, verdict === 'fail' ? 1 : 0);
      child.kill('SIGKILL');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    }
  });

  it('an unreachable source fails: a git URL that is no repository, a registry that does not answer; a reachable git source passes', async function () {
    const r = root();
    const b = bin([], ['git']);
    const gone = await doctor({ region: 'ap-jakarta', roles: 'hub', root: r, repoUrl: '/nonexistent/fleet.git' }, { path: b });
    assert.equal(
      gone.lines.get('source'),
      "fail  source     git ls-remote /nonexistent/fleet.git failed: fatal: '/nonexistent/fleet.git' does not appear to be a git repository; " +
        "check the URL and this host's credentials",
    );
    assert.equal(gone.code, 1);

    const closed = await serve('');
    await closed.close();
    const down = await doctor({ region: 'ap-jakarta', roles: 'hub', root: r, source: `oci+http://${closed.host}/mirrornet/fleet` }, { path: b });
    assert.equal(
      down.lines.get('source'),
      `fail  source     Cannot reach the registry ${closed.host} (ECONNREFUSED) to check mirrornet/fleet:main.ap-jakarta: ` +
        'check the address and that the registry is running',
    );
    assert.equal(down.code, 1);

    const origin = lab.tmpDir('origin');
    gitSync(origin, ['init', '-q', '-b', 'main']);
    gitSync(origin, ['commit', '-q', '--allow-empty', '-m', 'fleet']);
    const sha = gitSync(origin, ['rev-parse', 'HEAD']);
    const up = await doctor({ region: 'ap-jakarta', roles: 'hub', root: r, repoUrl: origin }, { path: b });
    assert.equal(up.lines.get('source'), `ok    source     ${origin} main is at ${sha.slice(0, 12)}`);
  });

  it('a read-only state directory fails', async function () {
    const r = root({ 'var/lib/mirrornet/': '' });
    const state = join(r, 'var/lib/mirrornet');
    sh('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', state]);
    try {
      const { code, lines } = await doctor({ region: 'ap-jakarta', roles: 'hub', root: r }, { path: bin([]) });
      assert.equal(lines.get('state-dir'), `fail  state-dir  ${state} is not writable (EROFS): give --state-dir a directory the agent's user can write`);
      assert.equal(code, 1);
    } finally {
      sh('umount', [state]);
    }
  });

  it('a Harbor whose Date is 10 minutes ahead fails the clock check; the secrets it needs are named, never shown', async function () {
    const harbor = await serve('Sat, 05 Dec 2026 06:10:00 GMT');
    try {
      const r = root({ 'opt/harbor/prepare': '#!/bin/sh\n', 'etc/mirrornet/harbor-db-password': 'db-secret-value-1' });
      const env = { HARBOR_ADMIN_PASSWORD: 'admin-secret-value-2', HARBOR_ROBOT_REPLICATION: 'robot-secret-value-3' };
      const { code, stdout, lines } = await doctor(
        { region: 'ap-singapore', roles: 'hub', root: r, harborUrl: harbor.url },
        { path: bin([]), secrets: hostSecrets({ env, root: r }) },
      );
      assert.equal(lines.get('harbor'), `ok    harbor          ${harbor.url} answers Pong`);
      assert.equal(lines.get('harbor-install'), "ok    harbor-install  /opt/harbor holds Harbor's installer; the first apply writes harbor.yml");
      assert.equal(
        lines.get('secrets'),
        'ok    secrets         3 resolvable: env:HARBOR_ADMIN_PASSWORD, file:/etc/mirrornet/harbor-db-password, env:HARBOR_ROBOT_REPLICATION',
      );
      assert.equal(
        lines.get('clock'),
        `fail  clock           600 s behind ${harbor.host}: signatures and operator requests allow ±300 s; ` +
          'synchronise the clock (NTP: systemctl enable --now systemd-timesyncd)',
      );
      for (const value of [...Object.values(env), 'db-secret-value-1']) assert.equal(stdout.includes(value), false);
      assert.equal(code, 1);
    } finally {
      await harbor.close();
    }
  });

  it('runs as `mirrornet doctor`: JSON with one entry per check, exit 1 on a failure, 2 on a usage error', async function () {
    const r = root({ 'etc/containerd/config.toml': 'version = 2\n' });
    const res = await cli(['doctor', '--region', 'ap-jakarta', '--roles', 'node', '--repo', fleet, '--root', r, '--netns', ns, '--format', 'json']);
    const json = JSON.parse(res.stdout) as { ok: boolean; checks: { verdict: string; check: string }[] };
    assert.deepEqual(
      json.checks.map((c) => c.check),
      ['node', 'desired', 'source', 'state-dir', 'secrets', 'containerd', 'containerd-config', 'dfdaemon', 'dfdaemon-proxy', 'clock'],
    );
    assert.equal(json.checks.find((c) => c.check === 'containerd-config')!.verdict, 'fail');
    assert.equal(json.ok, false);
    assert.equal(res.code, 1);
    const usage = await cli(['doctor', '--region', 'ap-jakarta', '--roles', 'gateway,printer']);
    assert.equal(usage.stderr, 'mirrornet: Unknown role "printer": use a comma-separated list of gateway, node, hub.\n');
    assert.equal(usage.code, 2);
  });
});

describe('mirrornet doctor with a repository it cannot use', function () {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function desiredLine(repo: string, region = 'ap-jakarta'): Promise<{ code: number; line: string | undefined }> {
    let stdout = '';
    const state = mkdtempSync(join(tmpdir(), 'mirrornet-doctor-state-'));
    dirs.push(state);
    const code = await doctorCommand(
      { region, roles: 'hub', repo, branch: 'main', root: '/', stateDir: state, format: 'text' },
      { stdout: (s) => (stdout += s), stderr: (s) => (stdout += s), color: false },
      { path: '', nodeVersion: 'v22.12.0', env: {}, secrets: hostSecrets({ env: {} }), timeoutMs: 1_000 },
    );
    return { code, line: stdout.split('\n').find((l) => l.startsWith('fail  desired')) };
  }

  it('an invalid repository fails the desired check with its first finding, and the other checks still run', async function () {
    const repo = mkdtempSync(join(tmpdir(), 'mirrornet-doctor-fleet-'));
    dirs.push(repo);
    cpSync(FIXTURE, repo, { recursive: true });
    const file = join(repo, 'regions/ap-jakarta.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('cidr: 10.136.0.0/16', 'cidr: 10.136.0.1/16'));
    const { code, line } = await desiredLine(repo);
    assert.equal(
      line,
      `fail  desired    the repository at ${repo} is invalid (1 error; first regions/ap-jakarta.yaml:12: 10.136.0.1/16 is not aligned: ` +
        `the network address of that block is 10.136.0.0/16; write 10.136.0.0/16): run mirrornet validate --repo ${repo}`,
    );
    assert.equal(code, 1);
  });

  it('a site the repository does not have, and a repository that is not there, fail with what to do', async function () {
    assert.equal(
      (await desiredLine(FIXTURE, 'ap-nowhere')).line,
      'fail  desired    There is no site "ap-nowhere" in the repository: use one of ap-singapore, cn-beijing, ap-jakarta, cn-hangzhou-idc, ' +
        'cn-shanghai, eu-amsterdam-idc, us-virginia.',
    );
    assert.equal(
      (await desiredLine('/nonexistent/fleet')).line,
      'fail  desired    cannot read /nonexistent/fleet: /nonexistent/fleet does not exist: pass --repo with the path of a clone of the ' +
        'configuration repository (a directory with hubs/, regions/, harbor/ and policies/)',
    );
  });
});
