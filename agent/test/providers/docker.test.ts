// Docker: daemon.json is shared with other tools. mirrornet owns only `registry-mirrors` (Docker Hub only),
// keeps every other key, reloads only when the file changed, and explains what Docker cannot mirror.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { run as runCli } from '../../src/cli/main.js';
import type { Desired } from '../../src/desired/types.js';
import { localExec } from '../../src/host/exec.js';
import { HostFiles } from '../../src/host/files.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { diffDocker, dockerNotes, OWNED_KEY, parseDaemonJson, renderDaemonJson } from '../../src/providers/docker/index.js';
import { buildProviders } from '../../src/providers/registry.js';
import { planHost } from '../../src/reconcile/engine.js';
import { formatPlanText } from '../../src/reconcile/format.js';
import { EMPTY_STATE } from '../../src/reconcile/state.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const BIN = join(repoRoot, 'agent/bin/mirrornet.js');
const FIXTURE = join(repoRoot, 'agent/test/fixtures/fleet-node');
const ID = `/etc/docker/daemon.json#${OWNED_KEY}`;
const PROXY = 'http://127.0.0.1:4001';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function mirrornetBin(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MIRRORNET_LOG_LEVEL: 'error' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** The CLI in this process (fast); `mirrornetBin` runs the real binary for the end-to-end cases. */
async function mirrornet(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), color: false });
  return { code, stdout, stderr };
}

/** A daemon.json as other tools leave it: nested objects, arrays, numbers, booleans, odd spacing. */
const OTHERS = {
  'data-root': '/var/lib/docker',
  'exec-opts': ['native.cgroupdriver=systemd'],
  'log-driver': 'json-file',
  'log-opts': { 'max-size': '100m', 'max-file': '5' },
  'storage-driver': 'overlay2',
  'max-concurrent-downloads': 20,
  'live-restore': true,
  debug: false,
  'insecure-registries': ['10.128.2.50:5000'],
  'default-ulimits': { nofile: { Name: 'nofile', Hard: 655360, Soft: 655360 } },
  runtimes: { nvidia: { path: '/usr/bin/nvidia-container-runtime', runtimeArgs: [] } },
  labels: [],
  features: { buildkit: true },
  'default-address-pools': [{ base: '172.80.0.0/16', size: 24 }],
  'shutdown-timeout': 15.5,
  dns: null,
};

function desired(docker: Desired['docker']): Desired {
  return { site: 'cn-test', roles: ['node'], routes: [], wireguard: [], ...(docker ? { docker } : {}) };
}

describe('docker provider', () => {
  describe('parseDaemonJson / renderDaemonJson', () => {
    it('a missing file is empty, a broken one says why', () => {
      assert.deepEqual(parseDaemonJson(undefined), {});
      const bad = parseDaemonJson('{ "debug": true, }');
      assert.match(bad.error ?? '', /is not valid JSON/);
      assert.equal(bad.json, undefined);
      assert.match(parseDaemonJson('["a"]').error ?? '', /not a JSON object/);
      assert.match(parseDaemonJson('null').error ?? '', /not a JSON object/);
      assert.match(parseDaemonJson('42').error ?? '', /not a JSON object/);
    });

    it('changes only registry-mirrors and keeps every other key, value and key order', () => {
      const current = { ...OTHERS, [OWNED_KEY]: ['https://old.example'] };
      const text = renderDaemonJson(current, [PROXY]);
      const next = JSON.parse(text) as Record<string, unknown>;
      assert.deepEqual(next[OWNED_KEY], [PROXY]);
      const { [OWNED_KEY]: _mirrors, ...rest } = next;
      assert.deepEqual(rest, OTHERS);
      assert.deepEqual(Object.keys(next), Object.keys(current));
      assert.ok(text.endsWith('}\n'));
      // No mirrors: the key stays, as [] (a SIGHUP reload keeps the running mirrors when the key is absent), nothing else moves.
      const removed = JSON.parse(renderDaemonJson(next, [])) as Record<string, unknown>;
      assert.deepEqual(removed, { ...OTHERS, [OWNED_KEY]: [] });
      assert.deepEqual(Object.keys(removed), Object.keys(current));
    });
  });

  describe('diffDocker', () => {
    const want = desired({ registryMirrors: [PROXY], unsupported: [] });

    it('create, update, noop', () => {
      assert.deepEqual(
        diffDocker(want, {}, new Set()).map((c) => [c.action, c.id]),
        [['create', ID]],
      );
      assert.deepEqual(
        diffDocker(want, parseDaemonJson(JSON.stringify(OTHERS)), new Set()).map((c) => c.action),
        ['create'],
      );
      const old = parseDaemonJson(JSON.stringify({ ...OTHERS, [OWNED_KEY]: ['https://old.example'] }));
      const update = diffDocker(want, old, new Set());
      assert.deepEqual(
        update.map((c) => c.action),
        ['update'],
      );
      assert.deepEqual(update[0]!.before, { [OWNED_KEY]: ['https://old.example'] });
      const same = parseDaemonJson(JSON.stringify({ ...OTHERS, [OWNED_KEY]: [PROXY] }));
      assert.deepEqual(
        diffDocker(want, same, new Set([ID])).map((c) => c.action),
        ['noop'],
      );
    });

    it('other keys never cause a change', () => {
      const a = parseDaemonJson(JSON.stringify({ [OWNED_KEY]: [PROXY] }));
      const b = parseDaemonJson(JSON.stringify({ ...OTHERS, debug: true, [OWNED_KEY]: [PROXY] }));
      assert.deepEqual(
        diffDocker(want, a, new Set([ID])).map((c) => c.action),
        ['noop'],
      );
      assert.deepEqual(
        diffDocker(want, b, new Set([ID])).map((c) => c.action),
        ['noop'],
      );
    });

    it('no Docker in the desired state: deletes the key only when mirrornet owns it', () => {
      const have = parseDaemonJson(JSON.stringify({ ...OTHERS, [OWNED_KEY]: [PROXY] }));
      assert.deepEqual(
        diffDocker(desired(undefined), have, new Set([ID])).map((c) => c.action),
        ['delete'],
      );
      assert.deepEqual(diffDocker(desired(undefined), have, new Set()), []);
      assert.deepEqual(diffDocker(desired(undefined), parseDaemonJson(JSON.stringify(OTHERS)), new Set([ID])), []);
    });

    it('a broken daemon.json is a change that cannot be applied, with the reason', () => {
      const changes = diffDocker(want, parseDaemonJson('{ nope'), new Set([ID]));
      assert.equal(changes.length, 1);
      assert.match(changes[0]!.reason, /not valid JSON.*fixed by hand/);
    });
  });

  describe('notes', () => {
    it('a private registry asked for with runtime docker gets a note about the Docker Hub limit', async () => {
      const d = desired({ registryMirrors: [PROXY], unsupported: ['harbor-cn-beijing'] });
      const notes = dockerNotes(d);
      assert.equal(notes.length, 1);
      assert.match(notes[0]!, /Docker Hub/);
      assert.match(notes[0]!, /harbor-cn-beijing/);
      assert.match(notes[0]!, /containerd/);
      assert.deepEqual(dockerNotes(desired({ registryMirrors: [PROXY], unsupported: [] })), []);
      // And it reaches the plan a person reads.
      const tmp = mkdtempSync(join(tmpdir(), 'mn-docker-note-'));
      try {
        const secrets = hostSecrets({ root: tmp });
        const deps = {
          providers: buildProviders({ secrets }, ['node']).providers,
          exec: localExec(),
          files: new HostFiles(tmp),
          secrets,
          log: pino({ level: 'silent' }),
          commands: { dockerReload: 'true', dragonflyRestart: 'true' },
        };
        const plan = await planHost(d, 'test', deps, structuredClone(EMPTY_STATE));
        assert.ok(plan.notes.some((n) => n.includes('harbor-cn-beijing')));
        assert.match(formatPlanText(plan), /note: Docker's registry-mirrors only mirrors Docker Hub/);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  });

  describe('plan and apply in a sandbox (CLI)', () => {
    let tmp: string;
    let root: string;
    let repo: string;
    let reloads: string;
    let daemonJson: string;
    const args = (cmd: 'plan' | 'apply', region = 'cn-hangzhou-idc') => [
      cmd,
      '--region',
      region,
      '--roles',
      'node',
      '--root',
      root,
      '--repo',
      repo,
      '--docker-reload',
      `echo reload >> '${reloads}'`,
      '--dragonfly-restart',
      'true',
    ];
    const reloadCount = () => (existsSync(reloads) ? readFileSync(reloads, 'utf8').split('\n').filter(Boolean).length : 0);
    const read = () => JSON.parse(readFileSync(daemonJson, 'utf8')) as Record<string, unknown>;
    const without = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== OWNED_KEY));

    beforeEach(() => {
      tmp = mkdtempSync(join(tmpdir(), 'mn-docker-'));
      root = join(tmp, 'root');
      repo = join(tmp, 'fleet');
      reloads = join(tmp, 'reloads.log');
      daemonJson = join(root, 'etc/docker/daemon.json');
      cpSync(FIXTURE, repo, { recursive: true });
      mkdirSync(join(root, 'etc/docker'), { recursive: true });
    });
    afterEach(() => rmSync(tmp, { recursive: true, force: true }));

    it('changes only registry-mirrors, keeps every other key, reloads once, and only when the file changed', async () => {
      const original = `${JSON.stringify({ ...OTHERS, [OWNED_KEY]: ['https://mirror.gcr.io'] }, null, 4)}\n`;
      writeFileSync(daemonJson, original);
      chmodSync(daemonJson, 0o600);
      let out = await mirrornetBin(args('plan'));
      assert.equal(out.code, 2, out.stdout + out.stderr);
      assert.match(out.stdout, /~ \/etc\/docker\/daemon\.json#registry-mirrors/);
      assert.equal(reloadCount(), 0, 'plan never reloads');

      out = await mirrornetBin(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      const after = read();
      assert.deepEqual(after[OWNED_KEY], [PROXY]);
      assert.deepEqual(without(after), OTHERS);
      assert.deepEqual(Object.keys(after), Object.keys(JSON.parse(original) as object), 'key order kept');
      assert.equal(statSync(daemonJson).mode & 0o777, 0o600, 'mode kept');
      assert.equal(readFileSync(`${daemonJson}.mirrornet.bak`, 'utf8'), original, 'the previous file is kept as a backup');
      assert.equal(reloadCount(), 1);

      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(reloadCount(), 1, 'nothing changed: no reload');
      out = await mirrornet(args('plan'));
      assert.equal(out.code, 0, out.stdout + out.stderr);

      // Another tool changes its own key: still in sync, no reload, its change stays.
      writeFileSync(daemonJson, JSON.stringify({ ...read(), debug: true }));
      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(read()['debug'], true);
      assert.equal(reloadCount(), 1);
    });

    it('creates daemon.json with only registry-mirrors when there is none', async () => {
      const out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.deepEqual(read(), { [OWNED_KEY]: [PROXY] });
      assert.equal(statSync(daemonJson).mode & 0o777, 0o644);
      assert.equal(reloadCount(), 1);
    });

    it('invalid JSON: a clear error, the file untouched, no reload', async () => {
      const broken = '{\n  "log-driver": "json-file",\n  "debug": true,\n}\n';
      writeFileSync(daemonJson, broken);
      const plan = await mirrornet(args('plan'));
      assert.notEqual(plan.code, 0);
      assert.match(plan.stdout + plan.stderr, /daemon\.json is not valid JSON/);
      const out = await mirrornetBin(args('apply'));
      assert.equal(out.code, 1, out.stdout + out.stderr);
      assert.match(out.stderr, /\/etc\/docker\/daemon\.json is not valid JSON/);
      assert.match(out.stderr, /fix it by hand/);
      assert.equal(readFileSync(daemonJson, 'utf8'), broken);
      assert.deepEqual(readdirSync(join(root, 'etc/docker')), ['daemon.json'], 'no backup, no temp file');
      assert.equal(reloadCount(), 0);
    });

    it('removing docker.io from the fleet empties only the owned key (registry-mirrors: [], which a reload applies)', async () => {
      writeFileSync(daemonJson, JSON.stringify(OTHERS, null, 2));
      let out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.deepEqual(read()[OWNED_KEY], [PROXY]);
      assert.equal(reloadCount(), 1);

      // The region moves to containerd (and mirrors its Harbor instead): Docker Hub is no longer mirrored.
      const region = join(repo, 'regions/cn-hangzhou-idc.yaml');
      writeFileSync(
        region,
        readFileSync(region, 'utf8').replace('runtime: docker', 'runtime: containerd').replace('registries: [docker.io]', 'registries: [harbor-cn-beijing]'),
      );
      const valid = await mirrornet(['validate', '--repo', repo]);
      assert.equal(valid.code, 0, valid.stdout + valid.stderr);
      out = await mirrornet(args('plan'));
      assert.equal(out.code, 2, out.stdout + out.stderr);
      assert.match(out.stdout, /- \/etc\/docker\/daemon\.json#registry-mirrors/);
      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      const after = read();
      assert.deepEqual(after, { ...OTHERS, [OWNED_KEY]: [] });
      assert.equal(reloadCount(), 2);
      out = await mirrornet(args('plan'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
    });

    it('never touches a registry-mirrors it does not own (containerd region, key set by someone else)', async () => {
      const text = `${JSON.stringify({ ...OTHERS, [OWNED_KEY]: ['https://mirror.gcr.io'] }, null, 2)}\n`;
      writeFileSync(daemonJson, text);
      const out = await mirrornet(args('apply', 'ap-jakarta'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.doesNotMatch(out.stdout, /daemon\.json/);
      assert.equal(readFileSync(daemonJson, 'utf8'), text);
      assert.equal(reloadCount(), 0);
    });

    it('a failed reload is retried by the next apply (the file alone does not mean Docker has it)', async () => {
      writeFileSync(daemonJson, JSON.stringify(OTHERS));
      const failing = args('apply').map((a) => (a.startsWith('echo reload') ? `echo failed >> '${reloads}'; exit 1` : a));
      let out = await mirrornet(failing);
      assert.equal(out.code, 1, out.stdout + out.stderr);
      assert.equal(reloadCount(), 1);
      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(reloadCount(), 2, 'the next apply reloads Docker, which never picked up registry-mirrors');
    });
  });
});
