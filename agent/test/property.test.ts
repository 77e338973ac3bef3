// Property-based tests: the validator never throws, and its interval arithmetic equals brute force.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { listModelFiles, type VirtualFile } from '../src/model/loader.js';
import { findOverlaps, type Interval } from '../src/net/cidr.js';
import { nextFreeBlock, type PlanGeometry } from '../src/net/plan.js';
import { RULES } from '../src/policy/registry.js';
import { validateFiles, type Report } from '../src/policy/validate.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const EXAMPLE: VirtualFile[] = listModelFiles(repoRoot).files.map((f) => ({
  path: f.path,
  content: Buffer.isBuffer(f.content) ? f.content.toString('utf8') : f.content,
}));
const text = (vf: VirtualFile): string => (typeof vf.content === 'string' ? vf.content : vf.content.toString('utf8'));

const KIND_NAMES = ['Region', 'Hub', 'HarborInstance', 'AddressPlan', 'LinkPolicy', 'RoutingPolicy', 'Guardrails', 'RegionDefaults'];
const DIRS = ['hubs', 'regions', 'harbor', 'policies'];
const SITE_NAMES = ['cn-beijing', 'ap-singapore', 'ap-jakarta', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc', 'us-virginia'];

/** Run validateFiles; fail with the input if it throws; check the report is well-formed. */
function validateSafely(files: VirtualFile[]): Report {
  let report: Report;
  try {
    report = validateFiles(files);
  } catch (err) {
    const shown = files.map(
      (f) => `--- ${f.path}\n${typeof f.content === 'string' ? f.content : `<${f.content.length} bytes> ${f.content.toString('hex').slice(0, 400)}`}`,
    );
    assert.fail(`validateFiles threw ${(err as Error)?.stack ?? String(err)}\non input:\n${shown.join('\n').slice(0, 4000)}`);
  }
  assert.equal(typeof report.valid, 'boolean');
  assert.equal(report.valid, report.errors.length === 0);
  // Lines per path (the longest when a path is given twice): a finding may not point past the end.
  const lineCounts = new Map<string, number>();
  for (const f of files) {
    const path = f.path.split('\\').join('/');
    lineCounts.set(path, Math.max(lineCounts.get(path) ?? 0, text(f).split(/\r\n|\r|\n/).length + 1));
  }
  for (const f of [...report.errors, ...report.warnings]) {
    assert.ok(RULES.has(f.rule), f.rule);
    assert.ok(Number.isInteger(f.line) && f.line >= 1, `${f.rule} line ${f.line}`);
    assert.ok(Number.isInteger(f.column) && f.column >= 1, `${f.rule} column ${f.column}`);
    assert.equal(typeof f.message, 'string');
    assert.ok(f.message.length > 0);
    const max = lineCounts.get(f.file);
    if (max !== undefined) assert.ok(f.line <= max, `${f.file}:${f.line} is past the end of the file (${f.rule})`);
  }
  return report;
}

const pathArb = fc
  .tuple(fc.constantFrom(...DIRS, 'other'), fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/), fc.constantFrom('.yaml', '.yml'))
  .map(([dir, name, ext]) => `${dir}/${name}${ext}`);

const YAML_TOKENS = [
  'kind: Region\n',
  'kind: Hub\n',
  'name: ',
  'us-virginia',
  'area: ',
  'cn',
  'overseas',
  'cidr: ',
  '10.136.0.0/16',
  '10.128.0.1/16',
  'links:\n',
  '  - to: ',
  'type: ',
  'wireguard',
  'mtu: ',
  '1400',
  '&a ',
  '*a',
  '[',
  ']',
  '{',
  '}',
  '- ',
  ': ',
  ', ',
  '\n',
  '  ',
  '    ',
  '"',
  "'",
  '---\n',
  '...\n',
  '# c\n',
  '!!binary ',
  '!!str ',
  '!foo ',
  '? ',
  '|\n',
  '>-\n',
  '<<: ',
  '~',
  'null',
  'true',
  '0x1F',
  '.inf',
  '%YAML 1.2\n',
  '\t',
  '\ufeff',
  '\u0000',
  '\r\n',
  '\\',
  'é',
  '北京',
  '💥',
  '@',
  '`',
  '*',
  '&',
  '!',
  '|',
  '>',
  '%',
];
const yamlSoup = fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 60 }).map((parts) => parts.join(''));

const contentArb: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  yamlSoup,
  yamlSoup.map((s) => Buffer.from(s)),
);

const KEYS = [
  'kind',
  'name',
  'area',
  'provider',
  'cloud',
  'region',
  'cidr',
  'gateways',
  'address',
  'links',
  'to',
  'type',
  'mtu',
  'mssClamp',
  'local',
  'remote',
  'gateway',
  'listenPort',
  'publicKey',
  'privateKey',
  'endpoint',
  'mirror',
  'runtime',
  'registries',
  'dragonfly',
  'manager',
  'proxyPort',
  'p2p',
  'routes',
  'destination',
  'via',
  'hub',
  'version',
  'replication',
  'source',
  'trigger',
  'cron',
  'areas',
  'supernet',
  'allocation',
  'stride',
  'reserved',
  'regionPrefixLength',
  'mode',
  'regionPeering',
  'allowed',
  'providers',
  'types',
  'drift',
  'linkType',
  'x',
  '__proto__',
  'constructor',
  'toString',
];
const VALUES: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...SITE_NAMES, ...KIND_NAMES, 'cn', 'overseas', 'aws', 'idc', 'huaweicloud', 'wireguard', 'vpn-ipsec', 'cloud-connect', 'peering'),
  fc.constantFrom('10.136.0.0/16', '10.300.0.0/16', '0.0.0.0/0', '255.255.255.255/32', '10.128.0.1/16', 'env:X', 'file:/x', 'harbor-cn-beijing'),
  fc.integer({ min: -10, max: 70000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 20 }),
);
const { tree: jsonish } = fc.letrec<{ tree: unknown }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    VALUES,
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), tie('tree'), { maxKeys: 6 }),
  ),
}));

/** A random object with a kind and a name, as YAML, in a random directory. */
const objectFileArb: fc.Arbitrary<VirtualFile> = fc
  .record({
    kind: fc.oneof(fc.constantFrom(...KIND_NAMES), fc.string({ maxLength: 12 })),
    name: fc.oneof(fc.constantFrom(...SITE_NAMES), fc.stringMatching(/^[a-z][a-z0-9-]{1,10}$/)),
    dir: fc.constantFrom(...DIRS),
    sameName: fc.boolean(),
    body: fc.dictionary(fc.constantFrom(...KEYS), jsonish, { maxKeys: 8 }),
    header: fc.boolean(),
  })
  .map(({ kind, name, dir, sameName, body, header }) => {
    const obj: Record<string, unknown> = { ...body, kind, name };
    const head = header ? '# yaml-language-server: $schema=../agent/schemas/region.schema.json\n' : '';
    return { path: `${dir}/${sameName ? name : `${name}-x`}.yaml`, content: head + stringify(obj) };
  });

// ---- Mutations of the real example fleet ----------------------------------------------------------

type TextMutation =
  | { op: 'delete-line'; at: number }
  | { op: 'duplicate-line'; at: number }
  | { op: 'swap-chars'; at: number }
  | { op: 'insert-char'; at: number; ch: string }
  | { op: 'delete-char'; at: number };

const textMutationArb: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ op: fc.constant('delete-line' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate-line' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('swap-chars' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert-char' as const), at: fc.nat(), ch: fc.constantFrom(' ', '\n', ':', '-', '[', '{', '"', '#', '&', '*', '\t', 'x', '0') }),
  fc.record({ op: fc.constant('delete-char' as const), at: fc.nat() }),
);

function applyText(src: string, m: TextMutation): string {
  if (m.op === 'delete-line' || m.op === 'duplicate-line') {
    const lines = src.split('\n');
    const i = m.at % lines.length;
    if (m.op === 'delete-line') lines.splice(i, 1);
    else lines.splice(i, 0, lines[i]!);
    return lines.join('\n');
  }
  if (src.length < 2) return src;
  const i = m.at % (src.length - 1);
  if (m.op === 'swap-chars') return src.slice(0, i) + src[i + 1] + src[i] + src.slice(i + 2);
  if (m.op === 'insert-char') return src.slice(0, i) + m.ch + src.slice(i);
  return src.slice(0, i) + src.slice(i + 1);
}

/** Leaf paths of a parsed YAML value. */
function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.length ? value.flatMap((v, i) => leafPaths(v, [...prefix, i])) : [prefix];
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    return entries.length ? entries.flatMap(([k, v]) => [[...prefix, k], ...leafPaths(v, [...prefix, k])]) : [prefix];
  }
  return [prefix];
}

function setAt(root: unknown, path: (string | number)[], op: 'set' | 'delete' | 'duplicate', value: unknown): unknown {
  if (path.length === 0) return op === 'set' ? value : root;
  const copy: unknown = structuredClone(root);
  let cur = copy as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (op === 'set') cur[last] = value;
  else if (op === 'delete') {
    if (Array.isArray(cur) && typeof last === 'number') cur.splice(last, 1);
    else delete cur[last];
  } else if (Array.isArray(cur) && typeof last === 'number') cur.splice(last, 0, structuredClone(cur[last]));
  else cur[last] = structuredClone(cur[last]);
  return copy;
}

const PARSED_EXAMPLE = EXAMPLE.map((f) => ({ path: f.path, header: text(f).split('\n')[0]!, value: parse(text(f)) as unknown }));

describe('property: the validator never throws', () => {
  it('on random strings and bytes as file contents', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ path: pathArb, content: contentArb }), { minLength: 1, maxLength: 4 }), (files) => {
        validateSafely(files);
      }),
      { numRuns: 200 },
    );
  });

  it('on random objects serialized to YAML under random kinds and directories', () => {
    fc.assert(
      fc.property(fc.array(objectFileArb, { minLength: 1, maxLength: 5 }), (files) => {
        validateSafely(files);
      }),
      { numRuns: 200 },
    );
  });

  it('on random objects added to the example fleet', () => {
    fc.assert(
      fc.property(fc.array(objectFileArb, { minLength: 1, maxLength: 3 }), (files) => {
        validateSafely([...EXAMPLE, ...files]);
      }),
      { numRuns: 100 },
    );
  });

  it('on text mutations of the example files (lines deleted or duplicated, characters swapped)', () => {
    fc.assert(
      fc.property(fc.nat(EXAMPLE.length - 1), fc.array(textMutationArb, { minLength: 1, maxLength: 3 }), (index, mutations) => {
        const files = EXAMPLE.map((f, i) => (i === index ? { path: f.path, content: mutations.reduce(applyText, text(f)) } : f));
        validateSafely(files);
      }),
      { numRuns: 150 },
    );
  });

  it('on structural mutations of the example files (values replaced, keys deleted, list items duplicated)', () => {
    const mutation = fc.record({
      file: fc.nat(PARSED_EXAMPLE.length - 1),
      leaf: fc.nat(),
      op: fc.constantFrom('set' as const, 'delete' as const, 'duplicate' as const),
      value: fc.oneof(VALUES, jsonish),
    });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
        const values = PARSED_EXAMPLE.map((p) => p.value);
        for (const m of mutations) {
          const paths = leafPaths(values[m.file]);
          const path = paths[m.leaf % paths.length]!;
          values[m.file] = setAt(values[m.file], path, m.op, m.value);
        }
        const files = PARSED_EXAMPLE.map((p, i) => ({ path: p.path, content: `${p.header}\n${stringify(values[i])}` }));
        validateSafely(files);
      }),
      { numRuns: 150 },
    );
  });
});

// ---- Interval overlaps ----------------------------------------------------------------------------

function pairKey(a: number, b: number): string {
  return a < b ? `${a},${b}` : `${b},${a}`;
}

function bruteForcePairs(intervals: readonly { start: number; end: number }[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      const a = intervals[i]!;
      const b = intervals[j]!;
      if (a.start <= b.end && b.start <= a.end) out.add(pairKey(i, j));
    }
  }
  return out;
}

function checkOverlaps(raw: { start: number; end: number }[]): void {
  const intervals: Interval<number>[] = raw.map((r, i) => ({ ...r, tag: i }));
  const found = findOverlaps(intervals);
  const keys = found.map(([a, b]) => pairKey(a.tag, b.tag));
  assert.equal(new Set(keys).size, keys.length, 'a pair was reported twice');
  for (const [a, b] of found) assert.notEqual(a.tag, b.tag, 'an interval paired with itself');
  assert.deepEqual(new Set(keys), bruteForcePairs(raw));
}

describe('property: findOverlaps equals a brute-force pairwise check', () => {
  it('on small, dense interval sets', () => {
    const interval = fc.tuple(fc.nat(60), fc.nat(15)).map(([start, len]) => ({ start, end: start + len }));
    fc.assert(fc.property(fc.array(interval, { maxLength: 40 }), checkOverlaps), { numRuns: 200 });
  });

  it('on IPv4-sized intervals, including duplicates and the ends of the address space', () => {
    const edge = fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1);
    const point = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), edge);
    const interval = fc.tuple(point, point).map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
    const withDuplicates = fc
      .array(interval, { maxLength: 25 })
      .chain((list) =>
        fc.array(fc.nat(Math.max(0, list.length - 1)), { maxLength: list.length ? 5 : 0 }).map((dups) => [...list, ...dups.map((i) => ({ ...list[i]! }))]),
      );
    fc.assert(fc.property(withDuplicates, checkOverlaps), { numRuns: 200 });
  });
});

// ---- cidr/overlap on random fleets ----------------------------------------------------------------

interface GenSite {
  name: string;
  role: 'hub' | 'region';
  area: 'cn' | 'overseas';
  cidr: string;
}

/** Start and end of a CIDR if it is a valid, network-aligned IPv4 CIDR (computed here, not by src). */
function cidrRange(cidr: string): { start: number; end: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const addr = ((octets[0]! * 256 + octets[1]!) * 256 + octets[2]!) * 256 + octets[3]!;
  const size = 2 ** (32 - prefix);
  if (addr % size !== 0) return undefined;
  return { start: addr, end: addr + size - 1 };
}

/** Mostly aligned CIDRs packed into 10.96.0.0 - 10.135.255.255, so that overlaps (and nesting) are common. */
const alignedCidrArb: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 96 * 2 ** 16, max: 136 * 2 ** 16 - 1 }), fc.constantFrom(12, 14, 15, 16, 16, 16, 16, 17, 18, 20, 24))
  .map(([offset, p]) => {
    const size = 2 ** (32 - p);
    const addr = 10 * 2 ** 24 + Math.floor(offset / size) * size;
    return `${Math.floor(addr / 2 ** 24)}.${Math.floor(addr / 2 ** 16) % 256}.${Math.floor(addr / 2 ** 8) % 256}.${addr % 256}/${p}`;
  });
const cidrArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: alignedCidrArb },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 90, max: 300 }), fc.nat(255), fc.nat(32)).map(([o2, o3, p]) => `10.${o2}.${o3}.0/${p}`) },
);

function siteYaml(s: GenSite): VirtualFile {
  const common = {
    kind: s.role === 'hub' ? 'Hub' : 'Region',
    name: s.name,
    area: s.area,
    provider: 'idc',
    cidr: s.cidr,
    gateways: [{ name: 'gw1', address: '10.1.0.10' }],
  };
  const extra =
    s.role === 'hub'
      ? { dragonfly: { manager: 'http://10.1.1.10:65003', schedulers: ['10.1.1.11:8002'] } }
      : { mirror: { runtime: 'containerd', registries: ['docker.io'], dragonfly: { manager: 'http://10.1.1.10:65003' } } };
  const dir = s.role === 'hub' ? 'hubs' : 'regions';
  const schema = s.role === 'hub' ? 'hub' : 'region';
  return {
    path: `${dir}/${s.name}.yaml`,
    content: `# yaml-language-server: $schema=../agent/schemas/${schema}.schema.json\n${stringify({ ...common, ...extra })}`,
  };
}

const planArb = fc.record({
  stride: fc.constantFrom(1, 2, 4, 8),
  reserved: fc.array(cidrArb, { maxLength: 2 }),
});

function planYaml(plan: { stride: number; reserved: string[] }): VirtualFile {
  const value = {
    kind: 'AddressPlan',
    name: 'address-plan',
    areas: { cn: { supernet: '10.0.0.0/9', allocation: 'descending' }, overseas: { supernet: '10.128.0.0/9', allocation: 'ascending' } },
    regionPrefixLength: 16,
    stride: plan.stride,
    reserved: plan.reserved.map((cidr, i) => ({ cidr, reason: `reserved ${i}` })),
  };
  return { path: 'policies/address-plan.yaml', content: `# yaml-language-server: $schema=../agent/schemas/address-plan.schema.json\n${stringify(value)}` };
}

const fleetArb = fc.record({
  plan: planArb,
  hubCidrs: fc.tuple(cidrArb, cidrArb),
  regions: fc.array(fc.record({ area: fc.constantFrom('cn' as const, 'overseas' as const), cidr: cidrArb }), { maxLength: 12 }),
});

describe('property: cidr/overlap equals a brute-force check on random fleets', () => {
  it('reports exactly the overlapping site pairs, once in each file', () => {
    fc.assert(
      fc.property(fleetArb, ({ plan, hubCidrs, regions }) => {
        const sites: GenSite[] = [
          { name: 'core-cn', role: 'hub', area: 'cn', cidr: hubCidrs[0] },
          { name: 'core-os', role: 'hub', area: 'overseas', cidr: hubCidrs[1] },
          ...regions.map((r, i): GenSite => ({ name: `region-${i}`, role: 'region', area: r.area, cidr: r.cidr })),
        ];
        const files = [planYaml(plan), ...sites.map(siteYaml)];
        const report = validateSafely(files);
        // The generated sites all pass the schema: only the plan and the rules speak about them.
        assert.deepEqual(
          report.errors.filter((e) => e.rule.startsWith('schema/') || e.rule.startsWith('yaml/')),
          [],
        );

        const ranges = sites.map((s) => cidrRange(s.cidr));
        const expected = new Set<string>();
        for (let i = 0; i < sites.length; i++) {
          for (let j = i + 1; j < sites.length; j++) {
            const a = ranges[i];
            const b = ranges[j];
            if (a && b && a.start <= b.end && b.start <= a.end) expected.add([sites[i]!.name, sites[j]!.name].sort().join(' & '));
          }
        }

        const overlapFindings = report.errors.filter((e) => e.rule === 'cidr/overlap');
        const byFile = new Map(files.map((f) => [f.path, f.path.replace(/^.*\/(.*)\.yaml$/, '$1')]));
        const actual = new Set<string>();
        for (const f of overlapFindings) {
          const self = byFile.get(f.file);
          assert.ok(self, `cidr/overlap in a file that is not a site: ${f.file}`);
          const other = sites.find((s) => s.name !== self && new RegExp(`\\b${s.name}\\b \\(`).test(f.message));
          assert.ok(other, `cannot tell which site ${f.file} overlaps: ${f.message}`);
          actual.add([self, other.name].sort().join(' & '));
        }
        assert.deepEqual(actual, expected);
        assert.equal(overlapFindings.length, 2 * expected.size, 'each overlap is reported in both files, once');
      }),
      { numRuns: 150 },
    );
  });
});

// ---- nextFreeBlock --------------------------------------------------------------------------------

interface GeoCase {
  geo: PlanGeometry;
  area: 'cn' | 'overseas';
  used: { start: number; end: number }[];
}

const MAX = 2 ** 32 - 1;

const geoCaseArb: fc.Arbitrary<GeoCase> = fc
  .record({
    prefix: fc.integer({ min: 16, max: 28 }),
    stride: fc.constantFrom(1, 2, 3, 4, 8),
    log2Units: fc.integer({ min: 0, max: 8 }),
    base: fc.integer({ min: 0, max: MAX }),
    otherBase: fc.integer({ min: 0, max: MAX }),
    area: fc.constantFrom('cn' as const, 'overseas' as const),
    allocation: fc.constantFrom('ascending' as const, 'descending' as const),
    used: fc.array(fc.tuple(fc.double({ min: -0.25, max: 1.25, noNaN: true }), fc.nat(40)), { maxLength: 12 }),
    reserved: fc.array(fc.tuple(fc.double({ min: -0.25, max: 1.25, noNaN: true }), fc.nat(40)), { maxLength: 3 }),
  })
  .map(({ prefix, stride, log2Units, base, otherBase, area, allocation, used, reserved }) => {
    // A supernet of 2^log2Units site prefixes: floor(2^log2Units / stride) stride blocks (0 .. 256).
    const unit = 2 ** (32 - prefix);
    const supSize = unit * 2 ** log2Units;
    const supPrefix = prefix - log2Units;
    const alignTo = supSize;
    const start = Math.floor(Math.min(base, MAX - alignTo + 1) / alignTo) * alignTo;
    const supernet = { start, end: start + supSize - 1, prefix: supPrefix };
    const otherStart = Math.floor(Math.min(otherBase, MAX - alignTo + 1) / alignTo) * alignTo;
    const other = { start: otherStart, end: otherStart + supSize - 1, prefix: supPrefix };
    const toRange = ([pos, len]: [number, number]): { start: number; end: number } => {
      const s = Math.max(0, Math.min(MAX, Math.floor(start + pos * supSize)));
      const e = Math.min(MAX, s + Math.floor((len / 10) * unit * stride));
      return { start: s, end: e };
    };
    const geo: PlanGeometry = {
      areas: [
        { area: 'cn', supernet: area === 'cn' ? supernet : other, allocation },
        { area: 'overseas', supernet: area === 'overseas' ? supernet : other, allocation },
      ],
      prefix,
      blockSize: unit * stride,
      reserved: reserved.map((r, index) => ({ range: { ...toRange(r), prefix: 32 }, reason: 'r', index })),
    };
    return { geo, area, used: used.map(toRange) };
  });

function bruteForceNextFree(c: GeoCase): { start: number; end: number; prefix: number } | undefined {
  const ap = c.geo.areas.find((a) => a.area === c.area)!;
  const taken = [...c.used, ...c.geo.reserved.map((r) => r.range)];
  const blocks = Math.floor((ap.supernet.end - ap.supernet.start + 1) / c.geo.blockSize);
  const order = Array.from({ length: blocks }, (_, k) => (ap.allocation === 'descending' ? blocks - 1 - k : k));
  for (const i of order) {
    const start = ap.supernet.start + i * c.geo.blockSize;
    const end = start + c.geo.blockSize - 1;
    if (taken.every((t) => t.end < start || t.start > end)) return { start, end: start + 2 ** (32 - c.geo.prefix) - 1, prefix: c.geo.prefix };
  }
  return undefined;
}

describe('property: nextFreeBlock', () => {
  it('returns the first block in allocation order that overlaps nothing used or reserved', () => {
    fc.assert(
      fc.property(geoCaseArb, (c) => {
        const got = nextFreeBlock(c.geo, c.area, c.used);
        const want = bruteForceNextFree(c);
        assert.deepEqual(got, want);
        if (got) {
          const blockEnd = got.start + c.geo.blockSize - 1;
          for (const t of [...c.used, ...c.geo.reserved.map((r) => r.range)]) {
            assert.ok(t.end < got.start || t.start > blockEnd, 'the block overlaps a used or reserved range');
          }
          const ap = c.geo.areas.find((a) => a.area === c.area)!;
          assert.ok(ap.supernet.start <= got.start && blockEnd <= ap.supernet.end, 'the block leaves the supernet');
        }
      }),
      { numRuns: 200 },
    );
  });

  it('finds nothing in a full area and the single gap in an almost full one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 32 }), fc.nat(), fc.constantFrom('ascending' as const, 'descending' as const), (blocks, gapSeed, allocation) => {
        const blockSize = 8 * 2 ** 16;
        const supernet = { start: 10 * 2 ** 24, end: 10 * 2 ** 24 + blocks * blockSize - 1, prefix: 32 - Math.log2(blocks * blockSize) };
        const geo: PlanGeometry = {
          areas: [
            { area: 'cn', supernet, allocation },
            { area: 'overseas', supernet, allocation },
          ],
          prefix: 16,
          blockSize,
          reserved: [],
        };
        const all = Array.from({ length: blocks }, (_, i) => ({ start: supernet.start + i * blockSize, end: supernet.start + i * blockSize + 2 ** 16 - 1 }));
        assert.equal(nextFreeBlock(geo, 'cn', all), undefined);
        const gap = gapSeed % blocks;
        const got = nextFreeBlock(
          geo,
          'cn',
          all.filter((_, i) => i !== gap),
        );
        assert.deepEqual(got, { start: supernet.start + gap * blockSize, end: supernet.start + gap * blockSize + 2 ** 16 - 1, prefix: 16 });
      }),
      { numRuns: 100 },
    );
  });
});

// A sanity check that the fixtures used above are what the tests assume.
describe('property test inputs', () => {
  it('start from a valid example fleet', () => {
    assert.equal(validateSafely(EXAMPLE).valid, true);
    assert.ok(readFileSync(join(repoRoot, 'regions', 'us-virginia.yaml'), 'utf8').length > 0);
  });
});
