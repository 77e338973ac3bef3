// containerd mirrors: the pure parts (config_path, hosts.toml, diff) and the real proof: a real containerd
// pulls through the hosts.toml mirrornet wrote, via a real registry proxy standing in for dfdaemon, and
// falls back to the registry itself when that proxy is down.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { run as runCli } from '../../src/cli/main.js';
import { compile } from '../../src/desired/compile.js';
import type { Desired, DesiredRegistryMirror } from '../../src/desired/types.js';
import { validateRepo } from '../../src/policy/validate.js';
import { diffContainerd, findConfigPath, hostsTomlPath, renderHostsToml, type ActualContainerd } from '../../src/providers/containerd/index.js';
import { missingCommand, need } from '../support/capabilities.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const BIN = join(repoRoot, 'agent/bin/mirrornet.js');
const FIXTURE = join(repoRoot, 'agent/test/fixtures/fleet-node');
const DEFAULT = '/etc/containerd/certs.d';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command without blocking the event loop (in-process servers must keep answering). */
function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

function mirrornetBin(args: string[]): Promise<Run> {
  return run(process.execPath, [BIN, ...args], { env: { MIRRORNET_LOG_LEVEL: 'error' } });
}

/** The CLI in this process (fast); `mirrornetBin` runs the real binary for the end-to-end cases. */
async function mirrornet(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), color: false });
  return { code, stdout, stderr };
}

function nodeArgs(cmd: 'plan' | 'apply', region: string, root: string, repo: string, extra: string[] = []): string[] {
  return [cmd, '--region', region, '--roles', 'node', '--root', root, '--repo', repo, '--dragonfly-restart', 'true', '--docker-reload', 'true', ...extra];
}

const V2_CONFIG = (path: string) => `version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${path}"\n`;
const V3_CONFIG = (path: string) => `version = 3\n\n[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "${path}"\n`;

function mirror(host: string, over: Partial<DesiredRegistryMirror> = {}): DesiredRegistryMirror {
  return { host, server: `https://${host}`, mirror: 'http://127.0.0.1:4001', ...over };
}

function desiredWith(registries: DesiredRegistryMirror[]): Desired {
  return { site: 'ap-test', roles: ['node'], routes: [], wireguard: [], containerd: { registries } };
}

function actualWith(files: Record<string, string | undefined>, configPath = DEFAULT): ActualContainerd {
  return { configPath, notes: [], files: new Map(Object.entries(files)) };
}

describe('containerd provider', () => {
  describe('findConfigPath', () => {
    it('reads config_path from containerd 1.x (version = 2, io.containerd.grpc.v1.cri)', () => {
      assert.deepEqual(findConfigPath(V2_CONFIG('/etc/containerd/certs.d')), { configPath: '/etc/containerd/certs.d', notes: [] });
      assert.deepEqual(findConfigPath(V2_CONFIG('/opt/mirrors')), { configPath: '/opt/mirrors', notes: [] });
    });

    it('reads config_path from containerd 2.x (version = 3, io.containerd.cri.v1.images)', () => {
      assert.deepEqual(findConfigPath(V3_CONFIG('/srv/certs.d')), { configPath: '/srv/certs.d', notes: [] });
    });

    it('a version 3 file uses the 2.x plugin even when a stale 1.x section is left in it', () => {
      const text =
        'version = 3\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/old"\n' +
        '[plugins."io.containerd.cri.v1.images".registry]\nconfig_path = "/new"\n';
      assert.equal(findConfigPath(text).configPath, '/new');
      const v2 =
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/old"\n' +
        '[plugins."io.containerd.cri.v1.images".registry]\nconfig_path = "/new"\n';
      assert.equal(findConfigPath(v2).configPath, '/old');
    });

    it('unset config_path: falls back to the default and says what to add for both versions, and that it needs a restart', () => {
      for (const text of [
        'version = 2\n',
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n',
        'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n',
      ]) {
        const r = findConfigPath(text);
        assert.equal(r.configPath, DEFAULT);
        assert.equal(r.notes.length, 1, text);
        const note = r.notes[0]!;
        assert.match(note, /config_path is not set/);
        assert.match(note, /io\.containerd\.grpc\.v1\.cri/);
        assert.match(note, /io\.containerd\.cri\.v1\.images/);
        assert.match(note, /restart containerd/);
      }
    });

    it('a missing config.toml is reported the same way', () => {
      const r = findConfigPath(undefined);
      assert.equal(r.configPath, DEFAULT);
      assert.match(r.notes.join('\n'), /does not exist/);
      assert.match(r.notes.join('\n'), /restart containerd/);
    });

    it('reads the real `containerd config default` of the installed containerd (config_path = "" there)', async function () {
      need(this, missingCommand('containerd', 'containerd'));
      const out = await run('containerd', ['config', 'default']);
      assert.equal(out.code, 0, out.stderr);
      const r = findConfigPath(out.stdout);
      assert.equal(r.configPath, DEFAULT);
      assert.equal(r.notes.length, 1);
      assert.match(r.notes[0]!, /config_path is not set/);
      // The same file with config_path filled in, as an operator would do it.
      const fixed = out.stdout.replace(/config_path = ""/, 'config_path = "/etc/containerd/certs.d"');
      assert.notEqual(fixed, out.stdout);
      assert.deepEqual(findConfigPath(fixed), { configPath: '/etc/containerd/certs.d', notes: [] });
    });

    it('several paths: uses the first and says containerd 2.2 ignores mirrors then', () => {
      const r = findConfigPath(V2_CONFIG('/etc/containerd/certs.d:/etc/docker/certs.d'));
      assert.equal(r.configPath, '/etc/containerd/certs.d');
      assert.equal(r.notes.length, 1);
      assert.match(r.notes[0]!, /several directories/);
      assert.match(r.notes[0]!, /\/etc\/containerd\/certs\.d/);
      const v3 = findConfigPath(V3_CONFIG('/a:/b:/c'));
      assert.equal(v3.configPath, '/a');
      assert.equal(v3.notes.length, 1);
    });

    it('legacy registry.mirrors next to config_path: a note that containerd 2.2 refuses to start', () => {
      const text =
        `${V2_CONFIG('/etc/containerd/certs.d')}\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n` +
        '  endpoint = ["https://registry-1.docker.io"]\n';
      const r = findConfigPath(text);
      assert.equal(r.configPath, '/etc/containerd/certs.d');
      assert.equal(r.notes.length, 1);
      assert.match(r.notes[0]!, /legacy registry\.mirrors/);
      assert.match(r.notes[0]!, /2\.2 refuses to start/);
      // An empty mirrors table (as in `containerd config default`) is not a legacy mirror.
      const empty = `${V2_CONFIG('/etc/containerd/certs.d')}\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n`;
      assert.deepEqual(findConfigPath(empty).notes, []);
    });

    it('invalid TOML: a clear note and the default path, no exception', () => {
      const r = findConfigPath('version = 2\n[plugins."io.containerd.grpc.v1.cri".registry\nconfig_path = "/x"\n');
      assert.equal(r.configPath, DEFAULT);
      assert.equal(r.notes.length, 1);
      assert.match(r.notes[0]!, /not valid TOML/);
      assert.match(r.notes[0]!, /config\.toml/);
    });
  });

  describe('renderHostsToml', () => {
    const r = mirror('harbor.example.internal:8443', { dialTimeout: '2s' });
    const text = renderHostsToml(r, 'ap-test');
    const toml = parseToml(text) as { server: string; host: Record<string, Record<string, unknown>> };

    it('has the registry itself as server (the fallback)', () => {
      assert.equal(toml.server, 'https://harbor.example.internal:8443');
    });

    it('lists the dfdaemon proxy as the first (and only) host, pull and resolve only, never push', () => {
      assert.deepEqual(Object.keys(toml.host), ['http://127.0.0.1:4001']);
      const h = toml.host['http://127.0.0.1:4001']!;
      assert.deepEqual(h['capabilities'], ['pull', 'resolve']);
      assert.doesNotMatch(text, /push/);
      assert.equal(h['dial_timeout'], '2s');
      // dfdaemon's section comes before anything containerd would try after it.
      assert.ok(text.indexOf('[host."http://127.0.0.1:4001"]') > text.indexOf('server ='));
    });

    it('sends X-Dragonfly-Registry = the registry, so dfdaemon knows the upstream', () => {
      const h = toml.host['http://127.0.0.1:4001']!;
      assert.deepEqual({ ...(h['header'] as object) }, { 'X-Dragonfly-Registry': 'https://harbor.example.internal:8443' });
    });

    it('has no dial_timeout when none is configured and says it is managed', () => {
      const plain = renderHostsToml(mirror('docker.io', { server: 'https://registry-1.docker.io' }), 'ap-test');
      const t = parseToml(plain) as { host: Record<string, Record<string, unknown>> };
      assert.equal(t.host['http://127.0.0.1:4001']!['dial_timeout'], undefined);
      assert.match(plain, /^# Managed by mirrornet for ap-test/);
    });

    it('compiles the fleet so a Harbor with a port gets a host_port_ directory (read first by containerd) and its full origin', () => {
      const report = validateRepo(FIXTURE);
      assert.ok(report.valid, JSON.stringify(report.errors));
      const d = compile(report.fleet, 'us-virginia', ['node']);
      assert.deepEqual(
        d.containerd?.registries.map((x) => [x.host, x.server, x.mirror]),
        [
          ['harbor.sg.node.internal:8443', 'https://harbor.sg.node.internal:8443', 'http://127.0.0.1:4001'],
          ['docker.io', 'https://registry-1.docker.io', 'http://127.0.0.1:4001'],
        ],
      );
      // containerd looks up host_port_ first, then host:port: mirrornet writes the name that is read first.
      assert.equal(
        hostsTomlPath('/etc/containerd/certs.d/', 'harbor.sg.node.internal:8443'),
        '/etc/containerd/certs.d/harbor.sg.node.internal_8443_/hosts.toml',
      );
    });
  });

  describe('diffContainerd', () => {
    const a = mirror('a.example');
    const b = mirror('b.example:5000');
    const pa = `${DEFAULT}/a.example/hosts.toml`;
    const pb = `${DEFAULT}/b.example:5000/hosts.toml`;

    it('create when the file is missing, with the rendered content', () => {
      const changes = diffContainerd(desiredWith([a]), actualWith({ [pa]: undefined }), new Set());
      assert.equal(changes.length, 1);
      assert.equal(changes[0]!.action, 'create');
      assert.equal(changes[0]!.id, pa);
      assert.deepEqual(changes[0]!.data, {
        path: pa,
        content:
          '# Managed by mirrornet for ap-test: dfdaemon first, https://a.example as the fallback. Edits are overwritten.\n' +
          'server = "https://a.example"\n' +
          '\n' +
          '[host."http://127.0.0.1:4001"]\n' +
          'capabilities = [ "pull", "resolve" ]\n' +
          '\n' +
          '[host."http://127.0.0.1:4001".header]\n' +
          'X-Dragonfly-Registry = "https://a.example"\n' +
          '\n',
      });
    });

    it('noop when the file means the same (comments and layout do not matter)', () => {
      const same =
        'server = "https://a.example"\n[host."http://127.0.0.1:4001"]\ncapabilities = ["pull","resolve"]\n' +
        'header = { X-Dragonfly-Registry = "https://a.example" }\n';
      const changes = diffContainerd(desiredWith([a]), actualWith({ [pa]: same }), new Set([pa]));
      assert.deepEqual(
        changes.map((c) => c.action),
        ['noop'],
      );
    });

    it('update when edited by hand (push added, another host, garbage)', () => {
      const pushed = renderHostsToml(a, 'ap-test').replace('"pull", "resolve"', '"pull", "resolve", "push"');
      assert.notEqual(pushed, renderHostsToml(a, 'ap-test'));
      for (const have of [pushed, 'server = "https://a.example"\n', 'not toml [[']) {
        const changes = diffContainerd(desiredWith([a]), actualWith({ [pa]: have }), new Set([pa]));
        assert.deepEqual(
          changes.map((c) => c.action),
          ['update'],
          have,
        );
      }
    });

    it('deletes only what is in the inventory and no longer wanted', () => {
      const foreign = `${DEFAULT}/ghcr.io/hosts.toml`;
      const files = { [pa]: renderHostsToml(a, 'ap-test'), [pb]: renderHostsToml(b, 'ap-test'), [foreign]: 'server = "https://ghcr.io"\n' };
      const changes = diffContainerd(desiredWith([a]), actualWith(files), new Set([pa, pb]));
      assert.deepEqual(
        changes.filter((c) => c.action !== 'noop').map((c) => [c.action, c.id]),
        [['delete', pb]],
      );
      // Not in the inventory: never deleted, even if it looks like ours.
      const none = diffContainerd(desiredWith([a]), actualWith(files), new Set([pa]));
      assert.deepEqual(
        none.filter((c) => c.action !== 'noop'),
        [],
      );
      // In the inventory but already gone: nothing to do.
      const gone = diffContainerd(desiredWith([a]), actualWith({ [pa]: files[pa], [pb]: undefined }), new Set([pa, pb]));
      assert.deepEqual(
        gone.filter((c) => c.action !== 'noop'),
        [],
      );
    });

    it('no containerd in the desired state: deletes every owned file, nothing else', () => {
      const d: Desired = { site: 'ap-test', roles: ['node'], routes: [], wireguard: [] };
      const changes = diffContainerd(d, actualWith({ [pa]: 'x', [pb]: 'y' }), new Set([pa]));
      assert.deepEqual(
        changes.map((c) => [c.action, c.id]),
        [['delete', pa]],
      );
    });
  });

  describe('plan and apply in a sandbox (CLI)', () => {
    let tmp: string;
    let root: string;
    let repo: string;
    const certs = () => join(root, 'etc/containerd/certs.d');

    beforeEach(() => {
      tmp = mkdtempSync(join(tmpdir(), 'mn-ctrd-'));
      root = join(tmp, 'root');
      repo = join(tmp, 'fleet');
      cpSync(FIXTURE, repo, { recursive: true });
      mkdirSync(join(root, 'etc/containerd'), { recursive: true });
      writeFileSync(join(root, 'etc/containerd/config.toml'), V2_CONFIG('/etc/containerd/certs.d'));
    });
    afterEach(() => rmSync(tmp, { recursive: true, force: true }));

    it('the fixture fleet is valid', async () => {
      const out = await mirrornetBin(['validate', '--repo', FIXTURE]);
      assert.equal(out.code, 0, out.stdout + out.stderr);
    });

    it('writes hosts.toml under the real config_path, never touches other registries, removes only its own', async () => {
      writeFileSync(join(root, 'etc/containerd/config.toml'), V3_CONFIG('/srv/mirrors'));
      const mirrors = join(root, 'srv/mirrors');
      // Another registry's directory (hosts.toml and a CA) and a pre-existing CA in a directory we will manage.
      mkdirSync(join(mirrors, 'ghcr.io'), { recursive: true });
      writeFileSync(join(mirrors, 'ghcr.io/hosts.toml'), 'server = "https://ghcr.io"\n');
      writeFileSync(join(mirrors, 'ghcr.io/ca.crt'), 'CA\n');
      mkdirSync(join(mirrors, 'harbor.sg.node.internal_8443_'), { recursive: true });
      writeFileSync(join(mirrors, 'harbor.sg.node.internal_8443_/ca.crt'), 'HARBOR CA\n');
      const before = readdirSync(mirrors).sort();

      let out = await mirrornetBin(nodeArgs('plan', 'us-virginia', root, repo));
      assert.equal(out.code, 2, out.stdout + out.stderr);
      assert.match(out.stdout, /\+ \/srv\/mirrors\/harbor\.sg\.node\.internal_8443_\/hosts\.toml/);
      assert.match(out.stdout, /\+ \/srv\/mirrors\/docker\.io\/hosts\.toml/);
      assert.doesNotMatch(out.stdout, /ghcr/);
      assert.doesNotMatch(out.stdout, /note:.*config_path/);

      out = await mirrornetBin(nodeArgs('apply', 'us-virginia', root, repo));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.deepEqual(readdirSync(mirrors).sort(), [...before, 'docker.io'].sort());
      const harbor = parseToml(readFileSync(join(mirrors, 'harbor.sg.node.internal_8443_/hosts.toml'), 'utf8')) as Record<string, unknown>;
      assert.equal(harbor['server'], 'https://harbor.sg.node.internal:8443');
      assert.equal((statSync(join(mirrors, 'docker.io/hosts.toml')).mode & 0o777).toString(8), '644');
      assert.equal(existsSync(join(root, DEFAULT)), false, 'nothing written under the default path when config_path is set');
      assert.equal(readFileSync(join(mirrors, 'ghcr.io/hosts.toml'), 'utf8'), 'server = "https://ghcr.io"\n');

      out = await mirrornet(nodeArgs('plan', 'us-virginia', root, repo));
      assert.equal(out.code, 0, out.stdout + out.stderr);

      // Stop mirroring both: only mirrornet's files go, the CA stays, the foreign registry stays.
      const region = join(repo, 'regions/us-virginia.yaml');
      writeFileSync(region, readFileSync(region, 'utf8').replace('registries: [harbor-ap-singapore, docker.io]', 'registries: [harbor-ap-singapore]'));
      out = await mirrornet(nodeArgs('apply', 'us-virginia', root, repo));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.match(out.stdout, /- \/srv\/mirrors\/docker\.io\/hosts\.toml/);
      assert.equal(existsSync(join(mirrors, 'docker.io/hosts.toml')), false);
      assert.deepEqual(readdirSync(join(mirrors, 'ghcr.io')).sort(), ['ca.crt', 'hosts.toml']);
      assert.equal(readFileSync(join(mirrors, 'ghcr.io/hosts.toml'), 'utf8'), 'server = "https://ghcr.io"\n');
      assert.deepEqual(readdirSync(join(mirrors, 'harbor.sg.node.internal_8443_')).sort(), ['ca.crt', 'hosts.toml']);
      out = await mirrornet(nodeArgs('plan', 'us-virginia', root, repo));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      // The directory mirrornet created for docker.io, now empty, goes too (removeDirIfEmpty).
      assert.equal(existsSync(join(mirrors, 'docker.io')), false, 'the empty directory mirrornet created for docker.io is left behind');
      assert.deepEqual(readdirSync(mirrors).sort(), before);
    });

    it('a hand edit is drift: plan exits 2, apply restores it, plan exits 0', async () => {
      let out = await mirrornet(nodeArgs('apply', 'ap-jakarta', root, repo));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      const file = join(certs(), 'harbor.sg.node.internal_8443_/hosts.toml');
      const good = readFileSync(file, 'utf8');
      writeFileSync(file, good.replace('"pull", "resolve"', '"pull", "resolve", "push"'));
      out = await mirrornet(nodeArgs('plan', 'ap-jakarta', root, repo));
      assert.equal(out.code, 2, out.stdout + out.stderr);
      assert.match(out.stdout, /~ \/etc\/containerd\/certs\.d\/harbor\.sg\.node\.internal_8443_\/hosts\.toml/);
      out = await mirrornet(nodeArgs('apply', 'ap-jakarta', root, repo));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(readFileSync(file, 'utf8'), good);
      out = await mirrornet(nodeArgs('plan', 'ap-jakarta', root, repo));
      assert.equal(out.code, 0, out.stdout + out.stderr);
    });

    it('unset config_path and legacy mirrors show up as notes in the plan', async () => {
      writeFileSync(
        join(root, 'etc/containerd/config.toml'),
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["https://mirror.example"]\n',
      );
      const out = await mirrornet(nodeArgs('plan', 'ap-jakarta', root, repo));
      assert.equal(out.code, 2, out.stdout + out.stderr);
      assert.match(out.stdout, /note: .*config_path is not set/);
      assert.match(out.stdout, /note: .*legacy registry\.mirrors/);
    });
  });

  describe('real containerd pulls through the hosts.toml mirrornet wrote', function () {
    this.timeout(60_000);
    let tmp: string | undefined;
    const children: ChildProcess[] = [];
    let recorder: http.Server | undefined;
    // Shared by the tests below, set up once in before().
    let upPort = 0;
    let upBase = '';
    let upstream: Proc;
    let proxy: Proc;
    let pxDir = '';
    let root = '';
    let repo = '';
    let hostsDir = '';
    let ctr: (...args: string[]) => Promise<Run>;
    const repoName = 'mirrornet/e2e';
    let v1: { layer: string; manifest: string };
    let v2: { layer: string; manifest: string };
    const seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[] = [];

    interface Proc {
      child: ChildProcess;
      log: () => string;
    }

    async function stop(child: ChildProcess): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(timer);
    }

    async function closeRecorder(): Promise<void> {
      if (!recorder) return;
      const r = recorder;
      recorder = undefined;
      r.closeAllConnections();
      await new Promise<void>((resolve) => r.close(() => resolve()));
    }

    after(async () => {
      await closeRecorder();
      for (const c of children) await stop(c);
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    async function freePort(): Promise<number> {
      const srv = net.createServer();
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
      const port = (srv.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => srv.close(() => resolve()));
      return port;
    }

    function start(cmd: string, args: string[]): Proc {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let log = '';
      child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      return { child, log: () => log };
    }

    async function waitFor(what: string, proc: Proc, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        if (proc.child.exitCode !== null) throw new Error(`${what} exited (${proc.child.exitCode}):\n${proc.log()}`);
        try {
          if (await check()) return;
        } catch {
          /* not yet */
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`${what} did not become ready in ${ms} ms:\n${proc.log()}`);
    }

    function registryConfig(dir: string, port: number, remote?: string): string {
      const file = join(dir, 'config.yml');
      mkdirSync(join(dir, 'data'), { recursive: true });
      writeFileSync(
        file,
        [
          'version: 0.1',
          'log:',
          '  level: info',
          '  formatter: text',
          'storage:',
          '  filesystem:',
          `    rootdirectory: ${join(dir, 'data')}`,
          '  maintenance:',
          '    uploadpurging:',
          '      enabled: false',
          'http:',
          `  addr: 127.0.0.1:${port}`,
          `  secret: ${randomBytes(8).toString('hex')}`,
          ...(remote ? ['proxy:', `  remoteurl: ${remote}`] : []),
          '',
        ].join('\n'),
      );
      return file;
    }

    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const blobFile = (dataDir: string, digest: string) => {
      const hex = digest.slice('sha256:'.length);
      return join(dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    };

    async function pushBlob(base: string, name: string, blob: Buffer): Promise<string> {
      const digest = sha(blob);
      const post = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202, await post.text());
      const location = new URL(post.headers.get('location')!, base);
      location.searchParams.set('digest', digest);
      const put = await fetch(location, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(put.status, 201, await put.text());
      return digest;
    }

    /** A minimal OCI image: one random layer, a config, a manifest, pushed with the registry HTTP API. */
    async function pushImage(base: string, name: string, tag: string): Promise<{ layer: string; manifest: string }> {
      const layerBytes = randomBytes(8192);
      const layer = await pushBlob(base, name, layerBytes);
      const arch = process.arch === 'x64' ? 'amd64' : process.arch;
      const configBytes = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layer] } }));
      const config = await pushBlob(base, name, configBytes);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configBytes.length },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: layerBytes.length }],
        }),
      );
      const res = await fetch(`${base}/v2/${name}/manifests/${tag}`, {
        method: 'PUT',
        body: manifest,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(res.status, 201, await res.text());
      return { layer, manifest: sha(manifest) };
    }

    before(async function () {
      need(this, missingCommand('containerd', 'containerd'));
      need(this, missingCommand('ctr', 'containerd'));
      need(this, missingCommand('docker-registry', 'docker-registry'));
      tmp = mkdtempSync(join(tmpdir(), 'mn-pull-'));

      // The "Harbor": a plain registry with two tags of a fresh image.
      upPort = await freePort();
      upBase = `http://127.0.0.1:${upPort}`;
      upstream = start('docker-registry', ['serve', registryConfig(join(tmp, 'upstream'), upPort)]);
      await waitFor('upstream registry', upstream, async () => (await fetch(`${upBase}/v2/`)).status === 200);
      v1 = await pushImage(upBase, repoName, 'v1');
      v2 = await pushImage(upBase, repoName, 'v2');

      // dfdaemon's stand-in: a registry in proxy mode in front of the "Harbor", behind a recorder that keeps
      // the headers containerd sends (dfdaemon picks its upstream from X-Dragonfly-Registry).
      const pxPort = await freePort();
      pxDir = join(tmp, 'proxy');
      proxy = start('docker-registry', ['serve', registryConfig(pxDir, pxPort, upBase)]);
      await waitFor('proxy registry', proxy, async () => (await fetch(`http://127.0.0.1:${pxPort}/v2/`)).status === 200);
      recorder = http.createServer((req, res) => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
        const forward = http.request({ host: '127.0.0.1', port: pxPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        forward.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        req.pipe(forward);
      });
      await new Promise<void>((resolve) => recorder!.listen(0, '127.0.0.1', () => resolve()));
      const mirrorPort = (recorder.address() as net.AddressInfo).port;

      // The fleet: the Singapore Harbor is the upstream registry, ap-jakarta's dfdaemon proxy is the recorder.
      repo = join(tmp, 'fleet');
      cpSync(FIXTURE, repo, { recursive: true });
      const harborFile = join(repo, 'harbor/harbor-ap-singapore.yaml');
      writeFileSync(
        harborFile,
        readFileSync(harborFile, 'utf8')
          .replace('hostname: harbor.sg.node.internal', 'hostname: localhost')
          .replace('externalUrl: https://harbor.sg.node.internal:8443', `externalUrl: ${upBase}`),
      );
      const regionFile = join(repo, 'regions/ap-jakarta.yaml');
      writeFileSync(regionFile, readFileSync(regionFile, 'utf8').replace('proxyPort: 4001', `proxyPort: ${mirrorPort}`));
      root = join(tmp, 'root');
      mkdirSync(join(root, 'etc/containerd'), { recursive: true });
      writeFileSync(join(root, 'etc/containerd/config.toml'), V2_CONFIG('/etc/containerd/certs.d'));
      const applied = await mirrornetBin(nodeArgs('apply', 'ap-jakarta', root, repo));
      assert.equal(applied.code, 0, applied.stdout + applied.stderr);
      hostsDir = join(root, 'etc/containerd/certs.d');

      // A real containerd in temp dirs; CRI off (ctr ignores config_path anyway and needs --hosts-dir).
      const cDir = join(tmp, 'containerd');
      mkdirSync(cDir, { recursive: true });
      writeFileSync(join(cDir, 'config.toml'), 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
      const sock = join(cDir, 'c.sock');
      const containerd = start('containerd', [
        '-c',
        join(cDir, 'config.toml'),
        '--root',
        join(cDir, 'root'),
        '--state',
        join(cDir, 'state'),
        '--address',
        sock,
      ]);
      await waitFor('containerd', containerd, async () => existsSync(sock) && (await run('ctr', ['-a', sock, 'version'], { timeoutMs: 5000 })).code === 0);
      ctr = (...args: string[]) => run('ctr', ['-a', sock, '-n', 'mirrornet-test', ...args], { timeoutMs: 20_000 });
    });

    const fetchRef = (tag: string) => ctr('content', 'fetch', '--hosts-dir', hostsDir, '--plain-http', `127.0.0.1:${upPort}/${repoName}:${tag}`);

    it('mirrornet wrote one hosts.toml for the Harbor, server = the Harbor', () => {
      const dirs = readdirSync(hostsDir);
      assert.equal(dirs.length, 1, dirs.join(', '));
      const written = parseToml(readFileSync(join(hostsDir, dirs[0]!, 'hosts.toml'), 'utf8')) as Record<string, unknown>;
      assert.equal(written['server'], upBase);
    });

    it("pulls through dfdaemon's place, with X-Dragonfly-Registry and ?ns=, pull only", async () => {
      const out = await fetchRef('v1');
      assert.equal(out.code, 0, `ctr content fetch v1: ${out.stdout}${out.stderr}`);
      const blobReqs = seen.filter((s) => s.url.includes(`/v2/${repoName}/blobs/${v1.layer}`));
      assert.ok(blobReqs.length >= 1, `the layer went through the mirror; the mirror saw: ${seen.map((s) => `${s.method} ${s.url}`).join(', ')}`);
      const manifestReqs = seen.filter((s) => s.url.includes(`/v2/${repoName}/manifests/v1`));
      assert.ok(manifestReqs.length >= 1, 'the manifest was resolved through the mirror');
      for (const s of [...blobReqs, ...manifestReqs]) {
        assert.equal(s.headers['x-dragonfly-registry'], upBase, 'X-Dragonfly-Registry names the registry');
        assert.match(s.url, new RegExp(`[?&]ns=127\\.0\\.0\\.1(:|%3A)${upPort}`), 'containerd adds ?ns=<registry>');
      }
      assert.ok(
        seen.every((s) => s.method === 'GET' || s.method === 'HEAD'),
        'pull only: nothing but GET/HEAD reached the mirror',
      );
      // The proxy registry really served it: its log names the layer and its storage caches it.
      assert.match(proxy.log(), new RegExp(`/v2/${repoName}/blobs/${v1.layer}`));
      await waitFor('proxy cache', proxy, () => existsSync(blobFile(join(pxDir, 'data'), v1.layer)), 5000);
      // The upstream served the layer to the proxy (Go client), never to containerd directly.
      const upLines = upstream
        .log()
        .split('\n')
        .filter((l) => l.includes(v1.layer) && l.includes('GET'));
      assert.ok(upLines.length >= 1, 'the upstream served the layer to the proxy');
      assert.ok(
        upLines.every((l) => !/containerd\//.test(l)),
        `containerd did not bypass the mirror:\n${upLines.join('\n')}`,
      );
      const ls = await ctr('content', 'ls', '-q');
      assert.match(ls.stdout, new RegExp(v1.layer));
    });

    it('writes the directory containerd looks up first for a host with a port (host_port_ before host:port), or says what shadows it', async () => {
      // containerd (1.6 here, and later) looks up <host>_<port>_ before <host>:<port>. Prove that order with
      // a host_port_ directory whose only host is a closed port, next to mirrornet's file.
      const shadow = join(hostsDir, `127.0.0.1_${upPort}_`);
      const colon = join(hostsDir, `127.0.0.1:${upPort}`);
      const closed = `http://127.0.0.1:${await freePort()}`;
      const mirrornetWroteShadowName = existsSync(shadow);
      try {
        if (!mirrornetWroteShadowName) {
          mkdirSync(shadow);
          // (containerd 1.6 cannot decode a hosts.toml without a [host] table and would ignore the file.)
          writeFileSync(join(shadow, 'hosts.toml'), `server = "${closed}"\n[host."${closed}"]\n  capabilities = ["pull", "resolve"]\n`);
          assert.ok(existsSync(colon));
          const out = await fetchRef('v1');
          assert.notEqual(out.code, 0, 'containerd used the host_port_ directory over the host:port one');
          assert.ok(out.stderr.includes(closed.slice('http://'.length)), out.stderr);
          // With mirrornet's file shadowed, the node no longer pulls through dfdaemon; plan must say so.
          const plan = await mirrornet(nodeArgs('plan', 'ap-jakarta', root, repo));
          assert.match(
            plan.stdout,
            new RegExp(`127\\.0\\.0\\.1_${upPort}_`),
            `mirrornet writes ${colon.slice(root.length)}, which containerd reads only when ${shadow.slice(root.length)} does not exist; ` +
              `plan says nothing about it:\n${plan.stdout}`,
          );
        }
      } finally {
        if (!mirrornetWroteShadowName) rmSync(shadow, { recursive: true, force: true });
      }
      const out = await fetchRef('v1');
      assert.equal(out.code, 0, out.stdout + out.stderr);
    });

    it('falls back to the registry itself, quickly, when dfdaemon is down', async () => {
      await closeRecorder();
      await stop(proxy.child);
      const before = seen.length;
      const t0 = Date.now();
      const out = await fetchRef('v2');
      assert.equal(out.code, 0, `ctr content fetch v2 with the mirror down: ${out.stdout}${out.stderr}`);
      assert.ok(Date.now() - t0 < 15_000, 'the fallback is fast (connection refused; dial_timeout 2s)');
      assert.equal(seen.length, before);
      const upLines = upstream
        .log()
        .split('\n')
        .filter((l) => l.includes(v2.layer) && l.includes('GET'));
      assert.ok(
        upLines.some((l) => /containerd\//.test(l)),
        `containerd fetched the layer from the registry itself:\n${upLines.join('\n')}`,
      );
      assert.equal(existsSync(blobFile(join(pxDir, 'data'), v2.layer)), false);
      const ls = await ctr('content', 'ls', '-q');
      assert.match(ls.stdout, new RegExp(v2.layer));
    });
  });
});
