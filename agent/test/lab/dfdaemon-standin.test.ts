// The lab's stand-in for dfdaemon reads the dfdaemon.yaml a node's agent wrote with the Rust client's rules (issue
// 11, part 5): it runs with what the file says, and it refuses, with the file and line, an unknown key (which
// dfdaemon would ignore in silence), a duration humantime does not parse and every other value dfdaemon refuses
// at start or dies of — so a wrong rendering stops `npm start`. Its fields are exactly the inventory's keys.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from '../../src/desired/compile.js';
import { DRAGONFLY_CONSTRAINTS } from '../../src/model/constraints/dragonfly.js';
import { validateRepo } from '../../src/policy/validate.js';
import { renderDfdaemon } from '../../src/providers/dragonfly/index.js';
import { DFDAEMON_FIELDS, parseDfdaemonConfig } from '../../src/testbed/lab/dfdaemon-config.js';
import { PEER_SCRIPT, startPeer } from '../../src/testbed/lab/peer.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const FILE = '/lab/sites/r/nodes/n1/root/etc/dragonfly/dfdaemon.yaml';

const GOOD = [
  'host:',
  '  idc: ap-jakarta',
  '  location: overseas|id|jakarta',
  'manager:',
  '  addr: http://10.128.1.10:65003',
  'storage:',
  '  dir: /var/lib/dragonfly',
  '  keep: true',
  'gc:',
  '  interval: 15m',
  'proxy:',
  '  server:',
  '    port: 4001',
  '  rules:',
  '    - regex: blobs/sha256.*',
  '  registryMirror:',
  '    addr: http://10.128.0.10:5000',
  '',
].join('\n');

/** The stand-in's refusal of a file, as one string (it must throw). */
function refusal(content: string): string {
  try {
    parseDfdaemonConfig(content, FILE);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('the stand-in accepted the file');
}

describe("the lab's stand-in for dfdaemon reads dfdaemon.yaml with the Rust client's rules", () => {
  it('runs with what the file says: port, rules, registry mirror, storage dir', () => {
    const c = parseDfdaemonConfig(GOOD, FILE);
    assert.deepEqual(
      { ...c, rules: c.rules.map((r) => r.source) },
      { proxyPort: 4001, registryMirror: 'http://10.128.0.10:5000', rules: ['blobs\\/sha256.*'], storageDir: '/var/lib/dragonfly' },
    );
  });

  it("takes dfdaemon's defaults for what the file leaves out: port 4001, Docker Hub, no rules (nothing peer-to-peer)", () => {
    const c = parseDfdaemonConfig('manager:\n  addr: http://10.128.1.10:65003\n', FILE);
    assert.deepEqual(
      { ...c, rules: c.rules.length },
      { proxyPort: 4001, registryMirror: 'https://index.docker.io', rules: 0, storageDir: '/var/lib/dragonfly' },
    );
  });

  it('accepts the dfdaemon.yaml mirrornet writes for every region of the example fleet', () => {
    const report = validateRepo(repoRoot);
    const ports: Record<string, [number, string]> = {};
    for (const name of report.fleet.regions.keys()) {
      const c = parseDfdaemonConfig(renderDfdaemon(compile(report.fleet, name, ['node'])), FILE);
      ports[name] = [c.proxyPort, c.registryMirror];
    }
    assert.deepEqual(ports, {
      'ap-jakarta': [4001, 'https://harbor.sg.mirrornet.internal'],
      'cn-guangzhou': [4001, 'https://harbor.bj.mirrornet.internal'],
      'cn-hangzhou-idc': [4001, 'https://index.docker.io'],
      'cn-shanghai': [4001, 'https://harbor.bj.mirrornet.internal'],
      'eu-amsterdam-idc': [4001, 'https://harbor.sg.mirrornet.internal'],
      'us-virginia': [4001, 'https://harbor.sg.mirrornet.internal'],
    });
  });

  it('refuses an unknown key at its line, with a suggestion, where dfdaemon would ignore it', () => {
    const typo = GOOD.replace('  registryMirror:', '  registryMirorr:');
    assert.equal(
      refusal(typo),
      `dfdaemon v1.5.1 would refuse ${FILE}, die of it or ignore part of it:\n` +
        `  ${FILE}:16: unknown key proxy.registryMirorr (did you mean registryMirror?): not one of the keys checked against dfdaemon v1.5.1's source ` +
        '(model/constraints/dragonfly.ts), and dfdaemon ignores a key it does not know without a word, so the lab refuses it',
    );
    assert.match(refusal(`${GOOD}scheduler:\n  enableBackToSource: false\n`), /:18: unknown key scheduler: /);
  });

  it('refuses a duration humantime does not parse, in the words serde and humantime use', () => {
    assert.equal(
      refusal(GOOD.replace('interval: 15m', 'interval: 900')),
      `dfdaemon v1.5.1 would refuse ${FILE}, die of it or ignore part of it:\n` +
        `  ${FILE}:10: gc.interval: invalid value: string "900", expected a duration (humantime: time unit needed, for example 900sec or 900ms)`,
    );
    assert.match(
      refusal(GOOD.replace('interval: 15m', 'interval: 15x')),
      /:10: gc\.interval: invalid value: string "15x", expected a duration \(humantime: unknown time unit "x"/,
    );
  });

  it('refuses what dfdaemon refuses at start or dies of: zero interval, https manager, its own ports, marks outside 1-99, wrong types', () => {
    assert.match(refusal(GOOD.replace('interval: 15m', 'interval: 0s')), /:10: gc\.interval: a zero period makes tokio::time::interval panic/);
    assert.match(refusal(GOOD.replace('addr: http://10.128.1.10', 'addr: https://10.128.1.10')), /:5: manager\.addr: https:\/\/ without manager\.caCert/);
    assert.match(refusal(GOOD.replace('port: 4001', 'port: 4000')), /:13: proxy\.server\.port: 4000 is the port of dfdaemon's upload gRPC server/);
    assert.match(refusal(GOOD.replace('port: 4001', 'port: "4001"')), /:13: proxy\.server\.port: expected an unsigned 16-bit integer/);
    assert.match(
      refusal(`${GOOD.replace('gc:\n', 'gc:\n  policy:\n    diskHighThresholdPercent: 100\n')}`),
      /:11: gc\.policy\.diskHighThresholdPercent: 100 is outside/,
    );
    assert.match(refusal(GOOD.replace('keep: true', 'keep: yes')), /:8: storage\.keep: expected a boolean/);
    assert.match(refusal(GOOD.replace('regex: blobs/sha256.*', 'regex: (?<=v2)blobs')), /:15: proxy\.rules\[0\]\.regex: .*no look-around/);
    assert.match(refusal(`${GOOD}proxy:\n  prefetch: true\n`), /cannot read this YAML/);
  });

  it('has a field for every dfdaemon.yaml key of the inventory, and no other', () => {
    const inventory = DRAGONFLY_CONSTRAINTS.map((c) => c.key).sort();
    assert.deepEqual(Object.keys(DFDAEMON_FIELDS).sort(), inventory);
  });

  it('the peer process exits with the refusal, before it listens', function () {
    this.timeout(20_000);
    const dir = mkdtempSync(join(tmpdir(), 'mn-standin-'));
    try {
      const config = join(dir, 'dfdaemon.yaml');
      writeFileSync(config, GOOD.replace('interval: 15m', 'interval: 900'));
      const r = spawnSync(process.execPath, [PEER_SCRIPT, '--config', config, '--root', dir], { encoding: 'utf8', timeout: 15_000 });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        /^peer: dfdaemon v1\.5\.1 would refuse .*dfdaemon\.yaml, die of it or ignore part of it:\n {2}.*dfdaemon\.yaml:10: gc\.interval: invalid value: string "900"/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends a blob through its cache only when a proxy rule of the file matches it, as dfdaemon does', async () => {
    const blob = randomBytes(64 * 1024);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    let fetched = 0;
    const upstream = http.createServer((_req, res) => {
      fetched++;
      res.writeHead(200, { 'content-length': blob.length }).end(blob);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const mirror = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const dir = mkdtempSync(join(tmpdir(), 'mn-standin-'));
    const pulls = async (rules: RegExp[]) => {
      fetched = 0;
      const peer = await startPeer({
        host: '127.0.0.1',
        port: 0,
        cacheDir: join(dir, String(rules.length)),
        registryMirror: mirror,
        rules,
        log: () => undefined,
      });
      const url = `http://127.0.0.1:${(peer.server.address() as AddressInfo).port}/v2/lab/x/blobs/${digest}`;
      for (let i = 0; i < 3; i++) assert.ok(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(blob));
      await new Promise<void>((r) => peer.server.close(() => r()));
      return fetched;
    };
    try {
      assert.equal(await pulls(parseDfdaemonConfig(GOOD, FILE).rules), 1, 'rules: [blobs/sha256.*]: one upstream fetch for three pulls');
      assert.equal(
        await pulls(parseDfdaemonConfig(GOOD.replace('  rules:\n    - regex: blobs/sha256.*\n', ''), FILE).rules),
        3,
        'no rules: every pull upstream',
      );
    } finally {
      await new Promise<void>((r) => upstream.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
