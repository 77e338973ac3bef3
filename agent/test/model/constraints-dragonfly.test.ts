// The dfdaemon.yaml part of the constraint inventory (issue 11): every key the renderer can write has an entry
// read from the Rust client, each entry names its upstream files at the release it was read at, each rule it
// names exists; and humantime, the parser dfdaemon reads durations with, agrees with the upstream crate on the
// strings its documentation and tests use.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from '../../src/desired/compile.js';
import { DRAGONFLY_CONSTRAINTS } from '../../src/model/constraints/dragonfly.js';
import type { Upstream } from '../../src/model/constraints/types.js';
import { parseHumantime } from '../../src/model/constraints/humantime.js';
import { MODEL_DIRECTORIES, type VirtualFile } from '../../src/model/loader.js';
import { Region } from '../../src/model/schema.js';
import { RULES } from '../../src/policy/registry.js';
import { validateFiles, validateRepo } from '../../src/policy/validate.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const FIXTURE = join(repoRoot, 'agent/test/fixtures/fleet-small');
const SHANGHAI = 'regions/cn-shanghai.yaml';

/** The leaf key paths of a value, as the inventory writes them (`proxy.rules[].regex`). */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => keyPaths(v, `${prefix}[]`));
  if (value && typeof value === 'object')
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => keyPaths(v, prefix ? `${prefix}.${k}` : k));
  return [prefix];
}

/** fleet-small with cn-shanghai setting every optional field of mirror.dragonfly (it sets all but disableBackToSource). */
function everyOptionalField(): VirtualFile[] {
  const files = MODEL_DIRECTORIES.flatMap((dir) =>
    readdirSync(join(FIXTURE, dir)).map((e) => ({ path: `${dir}/${e}`, content: readFileSync(join(FIXTURE, dir, e), 'utf8') })),
  );
  const shanghai = files.find((f) => f.path === SHANGHAI)!;
  shanghai.content = (shanghai.content as string).replace(
    '    storageDir: /var/lib/dragonfly\n',
    '    storageDir: /var/lib/dragonfly\n    disableBackToSource: true\n',
  );
  return files;
}

const dragonfly = DRAGONFLY_CONSTRAINTS;
const known = (key: string): boolean => dragonfly.some((c) => c.key === key);

/** A file of the Rust client itself (the other upstream files are the crates and services it relies on). */
const ofClient = (u: Upstream) => u.repo === 'dragonflyoss/client';

describe('constraint inventory: dfdaemon.yaml (Dragonfly client v1.5.1)', () => {
  it('has an entry for every key the renderer writes, for every region of the example fleet', () => {
    const report = validateRepo(repoRoot);
    const seen = new Set<string>();
    for (const name of report.fleet.regions.keys()) {
      for (const key of keyPaths(compile(report.fleet, name, ['node']).dragonfly!.config)) seen.add(key);
    }
    const missing = [...seen].filter((k) => !known(k));
    assert.deepEqual(missing, [], 'keys written to dfdaemon.yaml without an inventory entry');
    assert.ok(seen.size >= 12, `the example fleet writes ${seen.size} keys`);
  });

  it('has an entry for every key the renderer writes when a region sets every optional dragonfly field', () => {
    const report = validateFiles(everyOptionalField());
    assert.deepEqual(report.errors, []);
    const df = report.fleet.regions.get('cn-shanghai')!.value.mirror.dragonfly;
    const shape = Region.shape.mirror.shape.dragonfly.shape;
    assert.deepEqual(Object.keys(df).sort(), Object.keys(shape).sort(), 'the fixture sets every field of mirror.dragonfly');
    assert.deepEqual(Object.keys(df.gc!).sort(), Object.keys(shape.gc.unwrap().shape).sort(), 'and every field of its gc');
    const keys = keyPaths(compile(report.fleet, 'cn-shanghai', ['node']).dragonfly!.config);
    assert.deepEqual(keys.sort(), [
      'gc.interval',
      'gc.policy.diskHighThresholdPercent',
      'gc.policy.diskLowThresholdPercent',
      'gc.policy.taskTTL',
      'host.idc',
      'host.location',
      'host.schedulerClusterID',
      'manager.addr',
      'proxy.disableBackToSource',
      'proxy.registryMirror.addr',
      'proxy.rules[].regex',
      'proxy.server.port',
      'seedPeer.enable',
      'seedPeer.type',
      'storage.dir',
      'storage.keep',
    ]);
    assert.deepEqual(
      keys.filter((k) => !known(k)),
      [],
    );
  });

  it('names, for every entry, the upstream files at the release read, and only registered rules', () => {
    assert.ok(dragonfly.length >= 16);
    for (const c of dragonfly) {
      assert.ok(c.type && c.upstream.length > 0, c.key);
      const own = c.upstream.filter(ofClient);
      assert.ok(own.length > 0, `${c.key} names a file of the Rust client`);
      for (const u of own) assert.equal(u.ref, 'v1.5.1', `${c.key}: ${u.path}`);
      if (c.rule) assert.ok(RULES.has(c.rule), `${c.key} names the rule ${c.rule}, which is not registered`);
    }
    assert.deepEqual(
      dragonfly.filter((c) => c.rule).map((c) => [c.key, c.rule]),
      [
        ['host.location', 'mirror/location'],
        ['manager.addr', 'mirror/dragonfly-manager'],
        ['gc.interval', 'mirror/dragonfly-duration'],
        ['gc.policy.taskTTL', 'mirror/dragonfly-duration'],
        ['gc.policy.diskHighThresholdPercent', 'mirror/gc'],
        ['gc.policy.diskLowThresholdPercent', 'mirror/gc'],
        ['proxy.server.port', 'mirror/dragonfly-port'],
      ],
    );
  });
});

describe("humantime::parse_duration (dfdaemon's durations)", () => {
  const ok = (text: string) => {
    const r = parseHumantime(text);
    assert.ok(r.ok, `${text}: ${r.ok ? '' : r.reason}`);
    return [r.seconds, r.nanos];
  };
  const refused = (text: string) => {
    const r = parseHumantime(text);
    assert.ok(!r.ok, `${text} parsed`);
    return r.reason;
  };

  it('reads the units the repository writes, and those of its own documentation', () => {
    assert.deepEqual(ok('900s'), [900n, 0n]);
    assert.deepEqual(ok('15m'), [900n, 0n]);
    assert.deepEqual(ok('720h'), [2_592_000n, 0n]);
    assert.deepEqual(ok('7d'), [604_800n, 0n]);
    assert.deepEqual(ok('400ms'), [0n, 400_000_000n]);
    assert.deepEqual(ok('1500ms'), [1n, 500_000_000n]);
    assert.deepEqual(ok('2h 37min'), [9420n, 0n]);
    assert.deepEqual(ok('1h30m'), [5400n, 0n]);
    assert.deepEqual(ok('4.2s'), [4n, 200_000_000n]);
    assert.deepEqual(ok('1.5h'), [5400n, 0n]);
    assert.deepEqual(ok('1M'), [2_630_016n, 0n], 'M is a month');
    assert.deepEqual(ok('2µs'), [0n, 2000n]);
    assert.deepEqual(ok('0'), [0n, 0n]);
    assert.deepEqual(ok('0s'), [0n, 0n]);
  });

  it("refuses what the crate refuses, in the crate's words", () => {
    assert.equal(refused('900'), 'time unit needed, for example 900sec or 900ms');
    assert.equal(refused('15x'), 'unknown time unit "x", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)');
    assert.equal(
      refused('15 Minutes'),
      'unknown time unit "Minutes", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)',
      'units are case-sensitive',
    );
    assert.equal(refused(''), 'value was empty');
    assert.equal(refused('   '), 'value was empty');
    assert.equal(refused('-5s'), 'expected number at 0');
    assert.equal(refused('5s,'), 'invalid character at 2');
    assert.equal(refused('1.s'), 'invalid character at 1');
    assert.equal(
      refused('18446744073709551616s'),
      'number is too large or cannot be represented without a lack of precision (values below 1ns are not supported)',
    );
    assert.equal(refused('0.5ns'), 'number is too large or cannot be represented without a lack of precision (values below 1ns are not supported)');
    assert.equal(
      refused('213503982334602d'),
      'number is too large or cannot be represented without a lack of precision (values below 1ns are not supported)',
      'days beyond u64 seconds',
    );
  });
});
