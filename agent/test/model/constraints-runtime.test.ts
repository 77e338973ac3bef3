// The inventory's containerd and Docker entries against what the renderers write: every key of every hosts.toml
// and daemon.json mirrornet renders — for the example fleet, the test fleets, and a mirror with every optional
// field — has an entry, every entry is written by some rendering, and each duration is one Go reads as the model
// value (time.ParseDuration, ported below from Go's time/format.go).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { compile } from '../../src/desired/compile.js';
import type { DesiredRegistryMirror } from '../../src/desired/types.js';
import { CONTAINERD_CONSTRAINTS, containerdIgnores, DIAL_TIMEOUT } from '../../src/model/constraints/containerd.js';
import { DOCKER_CONSTRAINTS } from '../../src/model/constraints/docker.js';
import type { Consumer } from '../../src/model/constraints/types.js';
import { GO_MAX_DURATION_NS, goDuration, goDurationNs } from '../../src/model/go-duration.js';
import { RULES } from '../../src/policy/registry.js';
import { validateRepo } from '../../src/policy/validate.js';
import { hostsTomlKeys, renderHostsToml } from '../../src/providers/containerd/index.js';
import { renderDaemonJson } from '../../src/providers/docker/index.js';
import { parse as parseToml } from 'smol-toml';

/** The inventory's entries for hosts.toml and daemon.json. */
const RUNTIME = [...CONTAINERD_CONSTRAINTS, ...DOCKER_CONSTRAINTS];

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const FLEETS = ['.', 'agent/test/fixtures/fleet-small', 'agent/test/fixtures/fleet-node', 'agent/test/fixtures/fleet-wg'];

/** A mirror with every optional field the renderer knows: a port in the host, a dial timeout in days. */
const EVERY_FIELD: DesiredRegistryMirror = {
  host: 'harbor.example.internal:8443',
  server: 'https://harbor.example.internal:8443',
  mirror: 'http://127.0.0.1:4001',
  dialTimeout: '7d',
};

/** Go's time.ParseDuration (time/format.go): nanoseconds, or an error for what Go refuses. */
function goParseDuration(s: string): bigint {
  const units: Record<string, bigint> = {
    ns: 1n,
    us: 1000n,
    µs: 1000n,
    μs: 1000n,
    ms: 1_000_000n,
    s: 1_000_000_000n,
    m: 60_000_000_000n,
    h: 3_600_000_000_000n,
  };
  if (s === '0') return 0n;
  const m = /^[-+]?((\d*)(?:\.(\d*))?([a-zµμ]+))+$/.exec(s);
  if (!m || s === '') throw new Error(`time: invalid duration "${s}"`);
  let total = 0n;
  for (const part of s.replace(/^[-+]/, '').matchAll(/(\d*)(?:\.(\d*))?([a-zµμ]+)/g)) {
    const [, int = '', frac = '', unit = ''] = part;
    if (!(unit in units)) throw new Error(`time: unknown unit "${unit}" in duration "${s}"`);
    if (int === '' && frac === '') throw new Error(`time: invalid duration "${s}"`);
    const u = units[unit]!;
    total += BigInt(int || '0') * u + (frac ? (BigInt(frac) * u) / 10n ** BigInt(frac.length) : 0n);
    if (total > 2n ** 63n) throw new Error(`time: invalid duration "${s}"`);
  }
  if (!s.startsWith('-') && total > GO_MAX_DURATION_NS) throw new Error(`time: invalid duration "${s}"`);
  return s.startsWith('-') ? -total : total;
}

interface Rendered {
  consumer: Consumer;
  what: string;
  keys: string[];
}

function renderings(): Rendered[] {
  const out: Rendered[] = [];
  for (const dir of FLEETS) {
    const report = validateRepo(`${repoRoot}/${dir}`);
    assert.ok(report.valid, `${dir}: ${JSON.stringify(report.errors)}`);
    for (const name of report.fleet.regions.keys()) {
      const d = compile(report.fleet, name, ['node']);
      for (const r of d.containerd?.registries ?? [])
        out.push({ consumer: 'containerd', what: `${dir} ${name} ${r.host}`, keys: hostsTomlKeys(renderHostsToml(r, name)) });
      if (d.docker)
        out.push({
          consumer: 'docker',
          what: `${dir} ${name}`,
          keys: Object.keys(JSON.parse(renderDaemonJson(undefined, d.docker.registryMirrors)) as object),
        });
    }
  }
  out.push({ consumer: 'containerd', what: 'every optional field', keys: hostsTomlKeys(renderHostsToml(EVERY_FIELD, 'ap-test')) });
  out.push({ consumer: 'docker', what: 'no mirrors', keys: Object.keys(JSON.parse(renderDaemonJson(undefined, [])) as object) });
  return out;
}

describe('the constraint inventory: containerd hosts.toml and Docker daemon.json', () => {
  const all = renderings();

  it('renders hosts.toml and daemon.json for the example fleet (both runtimes occur)', () => {
    assert.ok(all.some((r) => r.consumer === 'containerd' && r.what.startsWith('. ')));
    assert.ok(all.some((r) => r.consumer === 'docker' && r.what.startsWith('. ')));
  });

  it('every key a renderer emits has an inventory entry', () => {
    const missing = all.flatMap((r) =>
      r.keys.filter((k) => !RUNTIME.some((c) => c.consumer === r.consumer && c.key === k)).map((k) => `${r.consumer} ${k} (${r.what})`),
    );
    assert.deepEqual(missing, []);
  });

  it('every containerd and Docker entry is a key some rendering emits (no stale entry)', () => {
    const emitted = new Set(all.flatMap((r) => r.keys.map((k) => `${r.consumer} ${k}`)));
    const stale = RUNTIME.map((c) => `${c.consumer} ${c.key}`).filter((k) => !emitted.has(k));
    assert.deepEqual(stale, []);
  });

  it('the walk names what it finds: the keys of the every-field hosts.toml', () => {
    assert.deepEqual(hostsTomlKeys(renderHostsToml(EVERY_FIELD, 'ap-test')).sort(), [
      'host.*',
      'host.*.capabilities',
      'host.*.dial_timeout',
      'host.*.header.X-Dragonfly-Registry',
      'server',
    ]);
  });

  it('each entry names its upstream files and a registered rule', () => {
    for (const c of RUNTIME) {
      assert.ok(c.upstream.length > 0, c.key);
      for (const u of c.upstream)
        assert.match(`${u.repo} ${u.path} ${u.ref}`, /^(containerd\/containerd|moby\/moby) \S+\.go (v\d+\.\d+\.\d+|[0-9a-f]{40})$/, c.key);
      if (c.rule) assert.ok(RULES.has(c.rule), `${c.key}: ${c.rule} is not a registered rule`);
    }
  });

  describe('dial_timeout is written in the syntax Go parses, to the same nanoseconds, never rounded', () => {
    const rendered = (d: string) =>
      (parseToml(renderHostsToml({ ...EVERY_FIELD, dialTimeout: d }, 'ap-test')) as { host: Record<string, { dial_timeout: string }> }).host;

    for (const [model, text, ns] of [
      ['500ms', '500ms', 500_000_000n],
      ['90s', '90s', 90_000_000_000n],
      ['2m', '2m', 120_000_000_000n],
      ['1h', '1h', 3_600_000_000_000n],
      ['7d', '168h', 604_800_000_000_000n],
      ['1ms', '1ms', 1_000_000n],
    ] as const) {
      it(`${model} -> dial_timeout = "${text}" (${ns} ns)`, () => {
        const written = rendered(model)['http://127.0.0.1:4001']!.dial_timeout;
        assert.equal(written, text);
        assert.equal(goParseDuration(written), ns);
        assert.equal(goDurationNs(model), ns);
      });
    }

    it("the model's `d` is no Go unit: written as is, containerd would drop the whole file", () => {
      assert.throws(() => goParseDuration('7d'), /unknown unit "d"/);
      assert.equal(goDuration('7d'), '168h');
    });

    it("Go's limit is 2562047h (2^63-1 ns): the rule's boundary is Go's", () => {
      assert.equal(goParseDuration('2562047h'), 2562047n * 3_600_000_000_000n);
      assert.throws(() => goParseDuration('2562048h'), /invalid duration/);
      assert.ok(goDurationNs('2562047h')! <= GO_MAX_DURATION_NS);
      assert.ok(goDurationNs('2562048h')! > GO_MAX_DURATION_NS);
      assert.ok(goDurationNs('106751d')! <= GO_MAX_DURATION_NS);
      assert.ok(goDurationNs('106752d')! > GO_MAX_DURATION_NS);
      assert.equal(goParseDuration(goDuration('106751d')), goDurationNs('106751d'));
    });
  });

  it('the version table: dial_timeout is read from 2.1.0, and from 2.0.7 in the 2.0 line', () => {
    const ignored = (major: number, minor: number, patch: number) => containerdIgnores([DIAL_TIMEOUT], { major, minor, patch }).length === 1;
    assert.deepEqual(
      [
        [1, 6, 20],
        [1, 7, 34],
        [2, 0, 0],
        [2, 0, 6],
        [2, 0, 7],
        [2, 0, 11],
        [2, 1, 0],
        [2, 2, 7],
        [3, 0, 0],
      ].map(([a, b, c]) => ignored(a!, b!, c!)),
      [true, true, true, true, false, false, false, false, false],
    );
    assert.deepEqual(containerdIgnores(['server', 'host.*.capabilities'], { major: 1, minor: 6, patch: 0 }), []);
  });
});
