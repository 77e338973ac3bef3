// Bad input gets a clear finding at the right place, never an exception or a stack trace.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Finding } from '../../src/model/finding.js';
import { loadFiles, MAX_FILE_BYTES, type VirtualFile } from '../../src/model/loader.js';
import { validateRepo } from '../../src/policy/validate.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const MODEL_DIRS = ['hubs', 'regions', 'harbor', 'policies'] as const;
const REGION_HEADER = '# yaml-language-server: $schema=../agent/schemas/region.schema.json\n';

function example(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

/** Load one file and return its findings (the loader must never throw). */
function findingsOf(path: string, content: string | Buffer): Finding[] {
  const file: VirtualFile = { path, content };
  return loadFiles([file]).findings;
}

function only(findings: Finding[], rule: string): Finding {
  const hits = findings.filter((f) => f.rule === rule);
  assert.equal(hits.length, 1, `expected exactly one ${rule} finding, got ${JSON.stringify(findings, null, 2)}`);
  return hits[0]!;
}

function assertNoStackTrace(f: Finding): void {
  assert.doesNotMatch(f.message, /\n/, `message spans lines: ${f.message}`);
  assert.doesNotMatch(f.message, /\bat \S+ \(?[^)]*:\d+:\d+\)?/, `message holds a stack frame: ${f.message}`);
  assert.doesNotMatch(f.message, /node:internal|node_modules|\.js:\d+/, `message points into code: ${f.message}`);
}

/** 1-based line and column of the first occurrence of `needle` in `text`. */
function positionOf(text: string, needle: string, from = 0): { line: number; column: number } {
  const at = text.indexOf(needle, from);
  assert.ok(at >= 0, `"${needle}" not in the text`);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}

/** Position of the value after `key` in the first occurrence of `needle` (which starts with `key`). */
function valueAt(text: string, needle: string, key: string): { line: number; column: number } {
  const p = positionOf(text, needle);
  return { line: p.line, column: p.column + key.length };
}

function assertAt(f: Finding, pos: { line: number; column: number }): void {
  assert.deepEqual({ line: f.line, column: f.column }, pos, `${f.rule}: ${f.message}`);
}

const virginia = (): string => example('regions/us-virginia.yaml');

describe('the loader on bad input', () => {
  describe('YAML syntax errors', () => {
    it('reports a duplicated key at the second occurrence, with no stack trace', () => {
      const text = virginia().replace('area: overseas\n', 'area: overseas\narea: cn\n');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'yaml/syntax');
      assertAt(f, positionOf(text, 'area: cn'));
      assert.match(f.message, /unique/i);
      assertNoStackTrace(f);
    });

    it('reports a compact nested mapping at the value that starts it', () => {
      const text = virginia().replace('area: overseas', 'area: overseas: eu');
      const f = findingsOf('regions/us-virginia.yaml', text).filter((x) => x.rule === 'yaml/syntax');
      assert.ok(f.length >= 1);
      assertAt(f[0]!, positionOf(text, 'overseas: eu'));
      for (const x of f) assertNoStackTrace(x);
    });

    it('reports a tab used as indentation on its line', () => {
      const text = virginia().replace('  vpcId: vpc-0a1b2c3d4e5f60718', '\tvpcId: vpc-0a1b2c3d4e5f60718');
      const f = findingsOf('regions/us-virginia.yaml', text).filter((x) => x.rule === 'yaml/syntax');
      assert.ok(f.length >= 1, 'a tab indentation is a syntax error');
      assert.equal(f[0]!.line, positionOf(text, '\tvpcId').line);
      for (const x of f) assertNoStackTrace(x);
    });

    it('reports at most a handful of syntax errors per file and none of the schema findings', () => {
      const text = `${REGION_HEADER}kind: Region\n${Array.from({ length: 30 }, (_, i) => `k${i}: a: b`).join('\n')}\n`;
      const findings = findingsOf('regions/us-virginia.yaml', text);
      assert.ok(findings.length >= 1 && findings.length <= 5, `${findings.length} findings`);
      assert.ok(findings.every((x) => x.rule === 'yaml/syntax'));
    });

    it('points an unclosed quote at the line where the quote opens, not at the end of the file', () => {
      const text = virginia().replace('description: North America clusters on AWS', 'description: "North America clusters on AWS');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'yaml/syntax');
      assert.equal(f.line, positionOf(text, 'description: "').line, `reported at ${f.line}:${f.column}: ${f.message}`);
      assertNoStackTrace(f);
    });

    it('points an unclosed flow sequence at the line that opens it', () => {
      const text = virginia().replace('routeTables: [rtb-0f1e2d3c4b5a69788]', 'routeTables: [rtb-0f1e2d3c4b5a69788');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'yaml/syntax');
      assert.equal(f.line, positionOf(text, 'routeTables: [').line, `reported at ${f.line}:${f.column}: ${f.message}`);
      assertNoStackTrace(f);
    });
  });

  describe('alias bombs', () => {
    it('stops a billion-laughs file quickly with a yaml/aliases finding', () => {
      const levels = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
      const lines = [`${levels[0]}: &${levels[0]} ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]`];
      for (let i = 1; i < levels.length; i++) {
        const prev = levels[i - 1]!;
        lines.push(`${levels[i]}: &${levels[i]} [${Array.from({ length: 9 }, () => `*${prev}`).join(', ')}]`);
      }
      const text = `${REGION_HEADER}kind: Region\nname: us-virginia\n${lines.join('\n')}\n`;
      const started = Date.now();
      const findings = findingsOf('regions/us-virginia.yaml', text);
      assert.ok(Date.now() - started < 2000, 'the bomb was expanded');
      const f = only(findings, 'yaml/aliases');
      assert.equal(f.severity, 'error');
      assert.match(f.message, /alias/i);
      assertNoStackTrace(f);
    });

    it('stops a bomb built from nested mappings too', () => {
      const lines = ['l0: &l0 {x: 1, y: 2, z: 3}'];
      for (let i = 1; i < 12; i++) lines.push(`l${i}: &l${i} {a: *l${i - 1}, b: *l${i - 1}, c: *l${i - 1}}`);
      const findings = findingsOf('regions/us-virginia.yaml', `${REGION_HEADER}${lines.join('\n')}\n`);
      only(findings, 'yaml/aliases');
    });

    it('accepts a few ordinary anchors and aliases', () => {
      const text = virginia().replace('  team: platform-intl', '  team: &team platform-intl\n  owner: *team');
      assert.deepEqual(findingsOf('regions/us-virginia.yaml', text), []);
    });
  });

  describe('size limits', () => {
    it('rejects a file over 1 MiB without parsing it', () => {
      const big = Buffer.alloc(MAX_FILE_BYTES + 1, 0x61);
      const f = only(findingsOf('regions/huge.yaml', big), 'file/too-large');
      assertAt(f, { line: 1, column: 1 });
      assert.match(f.message, /1 MiB/);
    });

    it('rejects a string over 1 MiB too', () => {
      only(findingsOf('regions/huge.yaml', `# ${'x'.repeat(MAX_FILE_BYTES)}\n`), 'file/too-large');
    });

    it('accepts exactly 1 MiB', () => {
      const body = `${REGION_HEADER}kind: Regoin\n`;
      const pad = `#${'x'.repeat(MAX_FILE_BYTES - body.length - 2)}\n`;
      const text = body + pad;
      assert.equal(Buffer.byteLength(text), MAX_FILE_BYTES);
      const findings = findingsOf('regions/huge.yaml', Buffer.from(text));
      assert.equal(
        findings.some((f) => f.rule === 'file/too-large'),
        false,
      );
      only(findings, 'schema/unknown-kind');
    });

    it('reports a file over 1 MiB on disk through validateRepo', function () {
      const tmp = mkdtempSync(join(tmpdir(), 'mirrornet-loader-big-'));
      try {
        copyFleet(tmp);
        writeFileSync(join(tmp, 'regions', 'huge.yaml'), Buffer.alloc(MAX_FILE_BYTES + 10, 0x23));
        const report = validateRepo(tmp);
        const f = only(report.errors, 'file/too-large');
        assert.equal(f.file, 'regions/huge.yaml');
        assert.equal(report.valid, false);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  });

  describe('encodings', () => {
    it('points at the first byte that is not UTF-8', () => {
      const bytes = Buffer.concat([Buffer.from('kind: Region\nname: us-virginia\ndescription: ab'), Buffer.from([0xff]), Buffer.from('cd\n')]);
      const f = only(findingsOf('regions/us-virginia.yaml', bytes), 'file/encoding');
      assertAt(f, { line: 3, column: 16 });
      assert.match(f.message, /UTF-8/);
      assertNoStackTrace(f);
    });

    it('finds a Latin-1 file (GBK and Latin-1 bytes are not UTF-8)', () => {
      const latin1 = Buffer.from('# yaml-language-server: $schema=x\nkind: Region\ndescription: Düsseldorf\n', 'latin1');
      const f = only(findingsOf('regions/eu-dusseldorf.yaml', latin1), 'file/encoding');
      assertAt(f, { line: 3, column: 15 });
    });

    it('reports a truncated multi-byte sequence at its first byte', () => {
      const bytes = Buffer.concat([Buffer.from('kind: Region\n'), Buffer.from([0xe5, 0x8c])]);
      assertAt(only(findingsOf('regions/x1.yaml', bytes), 'file/encoding'), { line: 2, column: 1 });
    });

    it('rejects overlong encodings and encoded surrogates', () => {
      assertAt(only(findingsOf('regions/x1.yaml', Buffer.from([0x61, 0x0a, 0x62, 0xc0, 0xaf])), 'file/encoding'), { line: 2, column: 2 });
      assertAt(only(findingsOf('regions/x1.yaml', Buffer.from([0x61, 0x0a, 0xed, 0xa0, 0x80])), 'file/encoding'), { line: 2, column: 1 });
    });

    it('counts the column of a bad byte in characters, like every other finding', () => {
      // "description: 北京" is 15 characters (21 bytes): the bad byte is character 16.
      const bytes = Buffer.concat([Buffer.from('kind: Region\ndescription: 北京'), Buffer.from([0xff]), Buffer.from('\n')]);
      assertAt(only(findingsOf('regions/x1.yaml', bytes), 'file/encoding'), { line: 2, column: 16 });
    });

    it('accepts a UTF-8 byte-order mark and keeps positions after it right', () => {
      const text = virginia().replace('area: overseas', 'area: overseas\nzone: a');
      const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
      const findings = findingsOf('regions/us-virginia.yaml', bytes);
      const f = only(findings, 'schema/unknown-key');
      assertAt(f, positionOf(text, 'zone: a'));
      assert.equal(
        findings.some((x) => x.rule === 'schema/header'),
        false,
        'the header after a BOM is still the first line',
      );
      assert.equal(
        findings.some((x) => x.rule === 'file/encoding'),
        false,
      );
    });

    it('accepts a byte-order mark in string content', () => {
      assert.deepEqual(findingsOf('regions/us-virginia.yaml', `\ufeff${virginia()}`), []);
    });

    it('accepts Windows line endings and keeps line numbers', () => {
      const text = virginia().replace('area: overseas', 'area: overseas\nzone: a');
      const f = only(findingsOf('regions/us-virginia.yaml', text.replace(/\n/g, '\r\n')), 'schema/unknown-key');
      assertAt(f, positionOf(text, 'zone: a'));
    });
  });

  describe('empty and multi-document files', () => {
    it('reports an empty file', () => {
      const f = only(findingsOf('regions/new.yaml', ''), 'file/empty');
      assertAt(f, { line: 1, column: 1 });
      assert.equal(f.severity, 'error');
    });

    it('reports an empty buffer, a lone byte-order mark and a whitespace-only file as empty', () => {
      only(findingsOf('regions/new.yaml', Buffer.alloc(0)), 'file/empty');
      only(findingsOf('regions/new.yaml', Buffer.from([0xef, 0xbb, 0xbf])), 'file/empty');
      only(findingsOf('regions/new.yaml', '  \n\n   \n'), 'file/empty');
    });

    it('reports a comment-only file as empty', () => {
      const findings = findingsOf('regions/new.yaml', `${REGION_HEADER}# TODO: fill in\n`);
      assert.deepEqual(
        findings.map((f) => f.rule),
        ['file/empty'],
      );
    });

    it('reports a file with only a document marker and comments as empty', () => {
      const findings = findingsOf('regions/new.yaml', `${REGION_HEADER}---\n# TODO: fill in\n`);
      assert.deepEqual(
        findings.map((f) => f.rule),
        ['file/empty'],
      );
    });

    it('reports a second document at its start', () => {
      const first = virginia();
      const text = `${first}---\nkind: Region\nname: us-ohio\n`;
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'yaml/multiple-documents');
      assert.equal(f.line, positionOf(text, '---\nkind: Region\nname: us-ohio').line);
      assertNoStackTrace(f);
    });

    it('accepts a leading document marker', () => {
      const text = virginia().replace('kind: Region', '---\nkind: Region');
      assert.deepEqual(findingsOf('regions/us-virginia.yaml', text), []);
    });

    it('reports a file that is a list or a scalar instead of a mapping', () => {
      for (const content of [`${REGION_HEADER}- a\n- b\n`, `${REGION_HEADER}just text\n`, `${REGION_HEADER}~\n`]) {
        const f = only(findingsOf('regions/new.yaml', content), 'schema/type');
        assert.match(f.message, /mapping/);
      }
    });
  });

  describe('kind, directory and name', () => {
    it('reports an unknown kind at its value with a did-you-mean', () => {
      const text = virginia().replace('kind: Region', 'kind: Regoin');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/unknown-kind');
      assertAt(f, valueAt(text, 'kind: Regoin', 'kind: '));
      assert.match(f.message, /did you mean "Region"/i);
      assert.match(f.message, /HarborInstance/);
    });

    it('suggests the closest kind for a hub and a Harbor instance', () => {
      assert.match(only(findingsOf('hubs/cn-beijing.yaml', 'kind: Hubb\nname: cn-beijing\n'), 'schema/unknown-kind').message, /"Hub"/);
      assert.match(only(findingsOf('harbor/h1.yaml', 'kind: HarborInstanse\nname: h1\n'), 'schema/unknown-kind').message, /"HarborInstance"/);
    });

    it('reports a missing kind at the top of the mapping', () => {
      const text = virginia().replace('kind: Region\n', '');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/unknown-kind');
      assertAt(f, positionOf(text, 'name: us-virginia'));
    });

    it('reports a kind that is not a string at its value and does not claim it is missing', () => {
      const text = virginia().replace('kind: Region', 'kind: 5');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/unknown-kind');
      assertAt(f, valueAt(text, 'kind: 5', 'kind: '));
      assert.doesNotMatch(f.message, /has no `?kind/);
    });

    it('reports a kind in the wrong directory at the kind', () => {
      const text = virginia();
      const f = only(findingsOf('hubs/us-virginia.yaml', text), 'schema/wrong-directory');
      assertAt(f, valueAt(text, 'kind: Region', 'kind: '));
      assert.match(f.message, /regions\//);
    });

    it('reports a model file outside the model directories as misplaced', () => {
      only(findingsOf('harbor/us-virginia.yaml', virginia()), 'schema/wrong-directory');
      only(findingsOf('policies/us-virginia.yaml', virginia()), 'schema/wrong-directory');
    });

    it('reports a name that differs from the file name at the name', () => {
      const text = virginia().replace('name: us-virginia', 'name: us-ohio');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/name-mismatch');
      assertAt(f, positionOf(text, 'us-ohio'));
      assert.match(f.message, /us-virginia/);
      const load = loadFiles([{ path: 'regions/us-virginia.yaml', content: text }]);
      assert.equal(load.objects.length, 0, 'a mismatched object is not part of the fleet');
      // Both names are broken: references to either are not reported as dangling on top of this finding.
      assert.deepEqual(load.invalid.map((i) => i.name).sort(), ['us-ohio', 'us-virginia']);
    });

    it('accepts the .yml extension with the same name rule', () => {
      assert.deepEqual(findingsOf('regions/us-virginia.yml', virginia()), []);
    });
  });

  describe('schema positions', () => {
    it('points an unknown top-level key at the key', () => {
      const text = virginia().replace('area: overseas', 'area: overseas\nzone: a');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/unknown-key');
      assertAt(f, positionOf(text, 'zone: a'));
    });

    it('points a misspelled nested key at the key, with a suggestion', () => {
      const text = virginia().replace('    proxyPort: 4001', '    proxyport: 4001');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/unknown-key');
      assertAt(f, positionOf(text, 'proxyport'));
      assert.match(f.message, /Did you mean "proxyPort"/);
    });

    it('points an unknown key inside a link (a discriminated union) at the key', () => {
      const text = virginia().replace('    mtu: 1400', '    mtu: 1400\n    mut: 1400');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/unknown-key');
      assertAt(f, positionOf(text, 'mut: 1400'));
      assert.match(f.message, /links\[0\]/);
    });

    it('points an unknown key in a flow mapping at the key', () => {
      const text = virginia().replace('  - name: gw1\n    address: 10.144.0.10', '  - {name: gw1, address: 10.144.0.10, adress: x}');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/unknown-key');
      assertAt(f, positionOf(text, 'adress: x'));
    });

    it('points an unknown quoted key at the key', () => {
      const text = virginia().replace('area: overseas', 'area: overseas\n"zone": a');
      assertAt(only(findingsOf('regions/us-virginia.yaml', text), 'schema/unknown-key'), positionOf(text, '"zone"'));
    });

    it('points each of several unknown keys at its own key', () => {
      const text = virginia().replace('area: overseas', 'area: overseas\nzone: a\nrack: b');
      const found = findingsOf('regions/us-virginia.yaml', text).filter((f) => f.rule === 'schema/unknown-key');
      assert.deepEqual(
        found.map((f) => [f.line, f.column]).sort(),
        [positionOf(text, 'zone: a'), positionOf(text, 'rack: b')].map((p) => [p.line, p.column]).sort(),
      );
    });

    it('points a missing required key at the mapping that lacks it', () => {
      const text = virginia().replace('    psk: env:MIRRORNET_PSK_US_VIRGINIA\n', '');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/required');
      assertAt(f, positionOf(text, 'to: ap-singapore'));
      assert.match(f.message, /"psk"/);
    });

    it('points a missing nested key at its parent mapping', () => {
      const text = virginia().replace('    manager: http://10.128.1.10:65003\n', '');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/required');
      assertAt(f, positionOf(text, 'schedulerClusterId'));
      assert.match(f.message, /"manager"/);
      assert.match(f.message, /mirror\.dragonfly/);
    });

    it('points a missing top-level key at the top mapping', () => {
      const text = virginia().replace('cidr: 10.144.0.0/16\n', '');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/required');
      assertAt(f, positionOf(text, 'kind: Region'));
      assert.match(f.message, /"cidr"/);
    });

    it('points a missing key in a flow mapping at the flow mapping', () => {
      const text = virginia().replace('  - name: gw1\n    address: 10.144.0.10', '  - {name: gw1}');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/required');
      assertAt(f, positionOf(text, '{name: gw1}'));
    });

    it('reports a missing enumeration key as a missing required key, not as the value "undefined"', () => {
      const text = virginia().replace('area: overseas\n', '');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/required');
      assertAt(f, positionOf(text, 'kind: Region'));
      assert.match(f.message, /"area"/);
      assert.doesNotMatch(f.message, /undefined/);
    });

    it('points a wrong type at the value', () => {
      const text = virginia().replace('mtu: 1400', 'mtu: "1400"');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'schema/type');
      assertAt(f, positionOf(text, '"1400"'));
    });

    it('reports a plaintext secret without echoing it', () => {
      const text = virginia().replace('psk: env:MIRRORNET_PSK_US_VIRGINIA', 'psk: hunter2-very-secret');
      const f = only(findingsOf('regions/us-virginia.yaml', text), 'secrets/plaintext');
      assertAt(f, positionOf(text, 'hunter2'));
      assert.doesNotMatch(f.message, /hunter2/);
    });

    it('rejects keys named like Object.prototype members, at each key, without tripping over them', () => {
      const text = `${virginia()}__proto__: {a: 1}\nconstructor: 1\n`;
      const found = findingsOf('regions/us-virginia.yaml', text).map((f) => [f.rule, f.line, f.column]);
      // us-virginia.yaml has 41 lines: the two keys are lines 42 and 43.
      assert.deepEqual(found, [
        ['yaml/reserved-key', 42, 1],
        ['yaml/reserved-key', 43, 1],
      ]);
    });
  });
});

function copyFleet(dest: string): void {
  for (const d of MODEL_DIRS) cpSync(join(repoRoot, d), join(dest, d), { recursive: true });
}

describe('validateRepo and symlinks', () => {
  let tmp: string;
  let outside: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mirrornet-loader-repo-'));
    outside = mkdtempSync(join(tmpdir(), 'mirrornet-loader-outside-'));
    copyFleet(tmp);
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('accepts the copied example fleet', () => {
    const report = validateRepo(tmp);
    assert.deepEqual(report.errors, []);
  });

  it('reports a symlink to a file outside the repository and does not read it', () => {
    const target = join(outside, 'eu-paris.yaml');
    writeFileSync(
      target,
      virginia()
        .replace(/us-virginia/g, 'eu-paris')
        .replace('10.144.0', '10.168.0'),
    );
    symlinkSync(target, join(tmp, 'regions', 'eu-paris.yaml'));
    const report = validateRepo(tmp);
    const f = only(report.errors, 'file/symlink');
    assert.equal(f.file, 'regions/eu-paris.yaml');
    assertAt(f, { line: 1, column: 1 });
    assert.match(f.message, /outside the repository/);
    assert.equal(report.fleet.regions.has('eu-paris'), false);
    assert.equal(report.valid, false);
  });

  it('reports a symlink to a system file', () => {
    symlinkSync('/etc/passwd', join(tmp, 'regions', 'host.yaml'));
    const f = only(validateRepo(tmp).errors, 'file/symlink');
    assert.equal(f.file, 'regions/host.yaml');
  });

  it('reports a relative symlink that climbs out of the repository', () => {
    writeFileSync(join(outside, 'x.yaml'), 'kind: Region\n');
    symlinkSync(join('..', '..', outside.split('/').pop()!, 'x.yaml'), join(tmp, 'regions', 'climb.yaml'));
    // tmp and outside are siblings under the temp directory: ../../<outside>/x.yaml leaves the repository.
    const f = only(validateRepo(tmp).errors, 'file/symlink');
    assert.equal(f.file, 'regions/climb.yaml');
  });

  it('reports a dangling symlink', () => {
    symlinkSync(join(tmp, 'regions', 'nothing-here.yaml'), join(tmp, 'regions', 'dangling.yaml'));
    const f = only(validateRepo(tmp).errors, 'file/symlink');
    assert.match(f.message, /points nowhere/);
  });

  it('reports a symlink loop without hanging', () => {
    symlinkSync(join(tmp, 'regions', 'loop-b.yaml'), join(tmp, 'regions', 'loop-a.yaml'));
    symlinkSync(join(tmp, 'regions', 'loop-a.yaml'), join(tmp, 'regions', 'loop-b.yaml'));
    const found = validateRepo(tmp).errors.filter((f) => f.rule === 'file/symlink');
    assert.deepEqual(found.map((f) => f.file).sort(), ['regions/loop-a.yaml', 'regions/loop-b.yaml']);
  });

  it('accepts a symlink to a file inside the repository', () => {
    mkdirSync(join(tmp, 'shared'));
    renameSync(join(tmp, 'regions', 'us-virginia.yaml'), join(tmp, 'shared', 'us-virginia.yaml'));
    symlinkSync(join('..', 'shared', 'us-virginia.yaml'), join(tmp, 'regions', 'us-virginia.yaml'));
    const report = validateRepo(tmp);
    assert.deepEqual(report.errors, []);
    assert.equal(report.fleet.regions.has('us-virginia'), true);
  });

  it('accepts a symlink into a repository directory whose name starts with two dots', () => {
    mkdirSync(join(tmp, '..shared'));
    renameSync(join(tmp, 'regions', 'us-virginia.yaml'), join(tmp, '..shared', 'us-virginia.yaml'));
    symlinkSync(join(tmp, '..shared', 'us-virginia.yaml'), join(tmp, 'regions', 'us-virginia.yaml'));
    const report = validateRepo(tmp);
    assert.deepEqual(report.errors, []);
    assert.equal(report.fleet.regions.has('us-virginia'), true);
  });

  it('reports a model directory that is a symlink to outside the repository', () => {
    const elsewhere = join(outside, 'regions');
    cpSync(join(tmp, 'regions'), elsewhere, { recursive: true });
    rmSync(join(tmp, 'regions'), { recursive: true, force: true });
    symlinkSync(elsewhere, join(tmp, 'regions'));
    const report = validateRepo(tmp);
    assert.equal(report.valid, false, 'the regions were read from outside the repository');
    assert.ok(report.errors.some((f) => f.rule === 'file/symlink'));
  });

  it('reports an unparsable file among good ones without losing the others', () => {
    writeFileSync(join(tmp, 'regions', 'broken.yaml'), 'kind: Region\nname: [broken\n');
    const report = validateRepo(tmp);
    assert.ok(report.errors.some((f) => f.rule === 'yaml/syntax' && f.file === 'regions/broken.yaml'));
    assert.equal(report.fleet.regions.size, 6);
  });
});
