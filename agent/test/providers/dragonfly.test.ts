// dfdaemon.yaml: only keys the Rust dfdaemon knows (it silently ignores unknown ones), the region's values,
// a restart only when the file changed, and drift (a hand edit) found by plan and restored by apply.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { run as runCli } from '../../src/cli/main.js';
import { compile } from '../../src/desired/compile.js';
import { DRAGONFLY_CONSTRAINTS } from '../../src/model/constraints/dragonfly.js';
import type { Desired } from '../../src/desired/types.js';
import type { Region } from '../../src/model/schema.js';
import { validateRepo } from '../../src/policy/validate.js';
import { diffDragonfly, renderDfdaemon } from '../../src/providers/dragonfly/index.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const BIN = join(repoRoot, 'agent/bin/mirrornet.js');
const FIXTURE = join(repoRoot, 'agent/test/fixtures/fleet-node');
const DFDAEMON = '/etc/dragonfly/dfdaemon.yaml';

/** The key paths of the constraint inventory (model/constraints/dragonfly.ts, read from the Rust client v1.5.1). */
const KNOWN = new Set(DRAGONFLY_CONSTRAINTS.map((c) => c.key));

/** cn-shanghai's dfdaemon.yaml in the fixture fleet: its host, manager, storage, GC, proxy and the area's Harbor. */
const CN_SHANGHAI = {
  host: { idc: 'cn-shanghai', location: 'cn|east|shanghai', schedulerClusterID: 1 },
  manager: { addr: 'http://10.120.1.10:65003' },
  seedPeer: { enable: false, type: 'normal' },
  storage: { dir: '/var/lib/dragonfly', keep: true },
  gc: { interval: '15m', policy: { taskTTL: '6h', diskHighThresholdPercent: 85, diskLowThresholdPercent: 70 } },
  proxy: {
    server: { port: 4001 },
    rules: [{ regex: 'blobs/sha256.*' }],
    registryMirror: { addr: 'https://harbor.bj.node.internal' },
  },
};

/** The leaf key paths of a YAML value; `[]` marks list items. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => keyPaths(v, `${prefix}[]`));
  if (value && typeof value === 'object')
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => keyPaths(v, prefix ? `${prefix}.${k}` : k));
  return [prefix];
}

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

describe('dragonfly provider', () => {
  const report = validateRepo(FIXTURE);
  const regions = [...report.fleet.regions.keys()];

  describe('rendered dfdaemon.yaml', () => {
    it('the fixture fleet is valid and has regions', () => {
      assert.ok(report.valid, JSON.stringify(report.errors));
      assert.ok(regions.length >= 4);
    });

    it('has only keys dfdaemon knows, for every region', () => {
      for (const name of regions) {
        const d = compile(report.fleet, name, ['node']);
        assert.ok(d.dragonfly, name);
        assert.equal(d.dragonfly.path, DFDAEMON);
        const rendered = parse(renderDfdaemon(d)) as unknown;
        assert.deepEqual(rendered, d.dragonfly.config, `${name}: the YAML says what the desired state says`);
        const unknown = keyPaths(rendered).filter((p) => !KNOWN.has(p));
        assert.deepEqual(unknown, [], `${name}: keys dfdaemon would silently ignore`);
      }
    });

    it("has the region's values: host, manager, storage, GC (durations as written), proxy on 4001 for blobs, the area's Harbor as registry mirror", () => {
      const d = compile(report.fleet, 'cn-shanghai', ['node']);
      assert.deepEqual(d.dragonfly!.config, CN_SHANGHAI);
      const jkt = compile(report.fleet, 'ap-jakarta', ['node']).dragonfly!.config as Record<string, Record<string, unknown>>;
      assert.deepEqual(jkt['host'], { idc: 'ap-jakarta', location: 'overseas|id|jakarta', schedulerClusterID: 11 });
      assert.deepEqual(jkt['manager'], { addr: 'http://10.128.1.10:65003' });
      assert.deepEqual(jkt['proxy']!['registryMirror'], { addr: 'https://harbor.sg.node.internal:8443' }, "the overseas area's Harbor, with its port");
      assert.deepEqual(jkt['proxy']!['server'], { port: 4001 });
      assert.deepEqual(jkt['proxy']!['rules'], [{ regex: 'blobs/sha256.*' }]);
      assert.deepEqual(
        jkt['gc'],
        { policy: { diskHighThresholdPercent: 80, diskLowThresholdPercent: 60 } },
        "without gc settings: dfdaemon's disk marks written out (its documented dfdaemon.yaml shows 90 and 70), its interval and TTL left to it",
      );
      assert.deepEqual(jkt['storage'], { dir: '/var/lib/dragonfly', keep: true }, 'keep: a restart for a settings change keeps the cache');
    });

    it('writes durations as the repository has them (humantime units), never rounded: 400ms stays 400ms instead of 0s', () => {
      const fleet = validateRepo(FIXTURE).fleet;
      (fleet.sites.get('cn-shanghai')!.value as Region).mirror.dragonfly.gc = { interval: '400ms', taskTTL: '90m' };
      const config = compile(fleet, 'cn-shanghai', ['node']).dragonfly!.config as { gc: unknown };
      assert.deepEqual(config.gc, { interval: '400ms', policy: { taskTTL: '90m', diskHighThresholdPercent: 80, diskLowThresholdPercent: 60 } });
    });

    it('a regex rule that really matches blob URLs and not manifests', () => {
      const d = compile(report.fleet, 'ap-jakarta', ['node']);
      const rules = (d.dragonfly!.config as { proxy: { rules: { regex: string }[] } }).proxy.rules;
      const re = new RegExp(rules[0]!.regex);
      assert.ok(re.test('/v2/library/nginx/blobs/sha256:0123abcd'));
      assert.ok(!re.test('/v2/library/nginx/manifests/latest'));
    });
  });

  describe('diffDragonfly', () => {
    const d: Desired = {
      site: 'x',
      roles: ['node'],
      routes: [],
      wireguard: [],
      dragonfly: { path: DFDAEMON, config: { manager: { addr: 'http://10.0.0.1:65003' }, proxy: { server: { port: 4001 } } } },
    };

    it('create, noop (comments and layout do not matter), update (values, unknown keys, garbage)', () => {
      assert.deepEqual(
        diffDragonfly(d, { path: DFDAEMON }, new Set()).map((c) => c.action),
        ['create'],
      );
      const same = '# hand comment\nproxy: { server: { port: 4001 } }\nmanager:\n    addr: "http://10.0.0.1:65003"\n';
      assert.deepEqual(
        diffDragonfly(d, { path: DFDAEMON, text: same, config: parse(same) }, new Set([DFDAEMON])).map((c) => c.action),
        ['noop'],
      );
      const typo = `${stringify(d.dragonfly!.config)}proxy2: {}\n`;
      assert.deepEqual(
        diffDragonfly(d, { path: DFDAEMON, text: typo, config: parse(typo) }, new Set([DFDAEMON])).map((c) => c.action),
        ['update'],
      );
      assert.deepEqual(
        diffDragonfly(d, { path: DFDAEMON, text: ': : :', config: undefined }, new Set([DFDAEMON])).map((c) => c.action),
        ['update'],
      );
    });

    it('deletes only a file it owns when the host no longer runs the node role', () => {
      const none: Desired = { site: 'x', roles: ['node'], routes: [], wireguard: [] };
      assert.deepEqual(
        diffDragonfly(none, { path: DFDAEMON, text: 'a: 1' }, new Set([DFDAEMON])).map((c) => c.action),
        ['delete'],
      );
      assert.deepEqual(diffDragonfly(none, { path: DFDAEMON, text: 'a: 1' }, new Set()), []);
    });
  });

  describe('plan and apply in a sandbox (CLI)', () => {
    let tmp: string;
    let root: string;
    let repo: string;
    let restarts: string;
    let file: string;
    const args = (cmd: 'plan' | 'apply', restart?: string) => [
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
      restart ?? `echo restart >> '${restarts}'`,
      '--docker-reload',
      'true',
    ];
    const restartCount = () => (existsSync(restarts) ? readFileSync(restarts, 'utf8').split('\n').filter(Boolean).length : 0);

    beforeEach(() => {
      tmp = mkdtempSync(join(tmpdir(), 'mn-df-'));
      root = join(tmp, 'root');
      repo = join(tmp, 'fleet');
      restarts = join(tmp, 'restarts.log');
      file = join(root, DFDAEMON);
      cpSync(FIXTURE, repo, { recursive: true });
    });
    afterEach(() => rmSync(tmp, { recursive: true, force: true }));

    it('writes dfdaemon.yaml and restarts once; a second apply changes nothing and does not restart', async () => {
      let out = await mirrornetBin(args('plan'));
      assert.equal(out.code, 2, out.stdout + out.stderr);
      assert.match(out.stdout, /\+ \/etc\/dragonfly\/dfdaemon\.yaml/);
      assert.equal(restartCount(), 0);
      out = await mirrornetBin(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(restartCount(), 1);
      const written = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(written, CN_SHANGHAI);
      assert.deepEqual(
        keyPaths(written).filter((p) => !KNOWN.has(p)),
        [],
      );

      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(restartCount(), 1, 'no change: no restart');
      out = await mirrornet(args('plan'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
    });

    it('a hand edit is drift: plan exits 2, apply restores the file (keeping the edit as backup) and restarts', async () => {
      let out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      const good = readFileSync(file, 'utf8');
      const edited = good.replace('port: 4001', 'port: 65001');
      assert.notEqual(edited, good);
      writeFileSync(file, edited);
      out = await mirrornetBin(args('plan'));
      assert.equal(out.code, 2, out.stdout + out.stderr);
      assert.match(out.stdout, /~ \/etc\/dragonfly\/dfdaemon\.yaml {2}dfdaemon\.yaml differs from the repository/);
      assert.equal(restartCount(), 1);
      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(readFileSync(file, 'utf8'), good);
      assert.equal(readFileSync(`${file}.mirrornet.bak`, 'utf8'), edited);
      assert.equal(restartCount(), 2);
      out = await mirrornet(args('plan'));
      assert.equal(out.code, 0, out.stdout + out.stderr);

      // A misspelled key added by hand (dfdaemon would ignore it silently) is drift too.
      writeFileSync(file, `${good}proxy_typo:\n  registryMirror:\n    addr: https://elsewhere\n`);
      out = await mirrornet(args('plan'));
      assert.equal(out.code, 2, out.stdout + out.stderr);
      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(readFileSync(file, 'utf8'), good);
      assert.equal(restartCount(), 3);
    });

    it('a comment added by hand is not drift and causes no restart', async () => {
      let out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      writeFileSync(file, `${readFileSync(file, 'utf8')}# checked by ops\n`);
      out = await mirrornet(args('plan'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(restartCount(), 1);
    });

    it('a change in the repository updates the file and restarts', async () => {
      let out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      const region = join(repo, 'regions/cn-shanghai.yaml');
      writeFileSync(region, readFileSync(region, 'utf8').replace('interval: 15m', 'interval: 30m'));
      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal((parse(readFileSync(file, 'utf8')) as { gc: { interval: string } }).gc.interval, '30m');
      assert.equal(restartCount(), 2);
    });

    it('a failed restart is retried by the next apply (dfdaemon does not reload the file by itself)', async () => {
      let out = await mirrornet(args('apply', `echo failed >> '${restarts}'; exit 1`));
      assert.equal(out.code, 1, out.stdout + out.stderr);
      assert.match(out.stderr, /dragonfly/);
      assert.equal(restartCount(), 1);
      out = await mirrornet(args('apply'));
      assert.equal(out.code, 0, out.stdout + out.stderr);
      assert.equal(restartCount(), 2, 'dfdaemon still runs the old configuration: the next apply must restart it');
    });
  });
});
