// The command-line contract: exit codes, output formats, `region add`, `schema --check`, `rules`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { cli } from '../support/cli.js';
import { hostSecrets } from '../../src/host/secrets.js';
import { RULES } from '../../src/policy/registry.js';
import { validateRepo } from '../../src/policy/validate.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const MODEL_DIRS = ['hubs', 'regions', 'harbor', 'policies'] as const;

interface JsonFinding {
  rule: string;
  file: string;
  line: number;
  column: number;
  message: string;
}
interface JsonReport {
  valid: boolean;
  errors: JsonFinding[];
  warnings: JsonFinding[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse --format json output and check its exact shape on the way. */
function parseJsonReport(text: string): JsonReport {
  const data: unknown = JSON.parse(text);
  assert.ok(isRecord(data));
  assert.deepEqual(Object.keys(data).sort(), ['errors', 'valid', 'warnings']);
  assert.equal(typeof data['valid'], 'boolean');
  for (const key of ['errors', 'warnings']) {
    const list: unknown = data[key];
    assert.ok(Array.isArray(list));
    for (const item of list as unknown[]) {
      const f: unknown = item;
      assert.ok(isRecord(f));
      assert.deepEqual(Object.keys(f).sort(), ['column', 'file', 'line', 'message', 'rule']);
      assert.equal(typeof f['rule'], 'string');
      assert.equal(typeof f['file'], 'string');
      assert.equal(typeof f['message'], 'string');
      assert.ok(Number.isInteger(f['line']) && (f['line'] as number) >= 1);
      assert.ok(Number.isInteger(f['column']) && (f['column'] as number) >= 1);
    }
  }
  return data as unknown as JsonReport;
}

// GitHub's escaping, written out independently of src/policy/format.ts.
const ghData = (s: string): string => s.split('%').join('%25').split('\r').join('%0D').split('\n').join('%0A');
const ghProp = (s: string): string => ghData(s).split(':').join('%3A').split(',').join('%2C');

function copyFleet(dest: string): void {
  for (const d of MODEL_DIRS) cpSync(join(repoRoot, d), join(dest, d), { recursive: true });
}

function edit(root: string, rel: string, from: string, to: string): void {
  const path = join(root, rel);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${rel} has no "${from}"`);
  writeFileSync(path, text.replace(from, to));
}

function listing(root: string): string[] {
  return MODEL_DIRS.flatMap((d) => readdirSync(join(root, d)).map((f) => `${d}/${f}`)).sort();
}

describe('the mirrornet command line', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mirrornet-cli-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  describe('validate: exit codes', () => {
    it('exits 0 on the example fleet', async () => {
      const r = await cli(['validate', '--repo', repoRoot]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^valid: \d+ files checked, 0 warnings$/m);
    });

    it('exits 1 on a copy with an overlapping CIDR', async () => {
      copyFleet(tmp);
      edit(tmp, 'regions/us-virginia.yaml', 'cidr: 10.144.0.0/16', 'cidr: 10.136.0.0/16');
      const r = await cli(['validate', '--repo', tmp]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /cidr\/overlap/);
      assert.match(r.stdout, /^invalid: /m);
    });

    it('exits 1 on a copy with a YAML syntax error, without a stack trace', async () => {
      copyFleet(tmp);
      edit(tmp, 'regions/ap-jakarta.yaml', 'area: overseas', 'area: [overseas');
      const r = await cli(['validate', '--repo', tmp]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /yaml\/syntax/);
      assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .+:\d+:\d+/);
      assert.equal(r.stderr, '');
    });

    it('exits 2 on a --repo directory that does not exist, with a sentence on stderr', async () => {
      const r = await cli(['validate', '--repo', join(tmp, 'no-such-dir')]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /does not exist/);
      assert.match(r.stderr, /--repo/);
    });

    it('exits 2 on a --repo that is a file, not a directory', async () => {
      const file = join(tmp, 'not-a-dir');
      writeFileSync(file, 'x');
      const r = await cli(['validate', '--repo', file]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
    });

    it('exits 2 on an unknown flag', async () => {
      const r = await cli(['validate', '--repo', repoRoot, '--bogus']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown option '--bogus'/);
    });

    it('exits 2 on an unknown format, an extra argument and an unknown command', async () => {
      assert.equal((await cli(['validate', '--repo', repoRoot, '--format', 'xml'])).code, 2);
      assert.equal((await cli(['validate', 'extra', '--repo', repoRoot])).code, 2);
      assert.equal((await cli(['frobnicate'])).code, 2);
    });

    it('exits 2 when no command is given', async () => {
      const r = await cli([]);
      assert.equal(r.code, 2, 'a missing command is a usage error');
      assert.match(r.stdout + r.stderr, /Usage: mirrornet/);
    });

    it('exits 0 on --help and --version', async () => {
      const help = await cli(['validate', '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--strict/);
      const version = await cli(['--version']);
      assert.equal(version.code, 0);
      assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    });

    it('allows warnings unless --strict turns them into exit 1', async () => {
      copyFleet(tmp);
      edit(tmp, 'regions/us-virginia.yaml', '# yaml-language-server: $schema=../agent/schemas/region.schema.json\n', '');
      const lax = await cli(['validate', '--repo', tmp, '--format', 'json']);
      assert.equal(lax.code, 0, lax.stdout);
      const report = parseJsonReport(lax.stdout);
      assert.equal(report.valid, true);
      assert.deepEqual(
        report.warnings.map((w) => [w.rule, w.file]),
        [['schema/header', 'regions/us-virginia.yaml']],
      );
      const strict = await cli(['validate', '--repo', tmp, '--strict']);
      assert.equal(strict.code, 1);
    });

    it('keeps exit 0 under --strict when there are no warnings', async () => {
      assert.equal((await cli(['validate', '--repo', repoRoot, '--strict'])).code, 0);
    });
  });

  describe('validate: output formats', () => {
    /** A copy with errors in several files, a warning, and file names and messages that need escaping. */
    function brokenCopy(opts: { lineBreakInName?: boolean } = {}): void {
      copyFleet(tmp);
      edit(tmp, 'regions/us-virginia.yaml', 'cidr: 10.144.0.0/16', 'cidr: 10.136.0.0/16');
      edit(tmp, 'regions/cn-shanghai.yaml', '# yaml-language-server: $schema=../agent/schemas/region.schema.json\n', '');
      edit(tmp, 'regions/cn-guangzhou.yaml', 'area: cn', 'area: cn\n"rack%1 row,2: a": x');
      writeFileSync(join(tmp, 'regions', 'odd,na:me%.yaml'), 'kind: Regoin\n');
      // A key cannot hold a line break (yaml/control-character); a file name can.
      if (opts.lineBreakInName) writeFileSync(join(tmp, 'regions', 'line\r\nbreak.yaml'), 'kind: Regoin\n');
    }

    it('--format json prints exactly valid, errors and warnings with rule, file, line, column, message', async () => {
      brokenCopy();
      const r = await cli(['validate', '--repo', tmp, '--format', 'json']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, '');
      const report = parseJsonReport(r.stdout);
      assert.equal(report.valid, false);
      const overlap = report.errors
        .filter((e) => e.rule === 'cidr/overlap')
        .map((e) => e.file)
        .sort();
      assert.deepEqual(overlap, ['regions/ap-jakarta.yaml', 'regions/us-virginia.yaml']);
      const va = report.errors.find((e) => e.rule === 'cidr/overlap' && e.file === 'regions/us-virginia.yaml')!;
      const text = readFileSync(join(tmp, 'regions/us-virginia.yaml'), 'utf8');
      const lines = text.split('\n');
      assert.equal(lines[va.line - 1]!.slice(va.column - 1), '10.136.0.0/16');
      assert.ok(report.warnings.some((w) => w.rule === 'schema/header' && w.file === 'regions/cn-shanghai.yaml'));
      assert.ok(report.errors.some((e) => e.rule === 'schema/unknown-kind' && e.file === 'regions/odd,na:me%.yaml'));
    });

    it('--format json on a valid fleet says valid with empty lists', async () => {
      const r = await cli(['validate', '--repo', repoRoot, '--format', 'json']);
      assert.equal(r.code, 0);
      assert.deepEqual(parseJsonReport(r.stdout), { valid: true, errors: [], warnings: [] });
    });

    it('--format github prints one workflow command per finding with GitHub escaping', async () => {
      brokenCopy({ lineBreakInName: true });
      const json = parseJsonReport((await cli(['validate', '--repo', tmp, '--format', 'json'])).stdout);
      const r = await cli(['validate', '--repo', tmp, '--format', 'github']);
      assert.equal(r.code, 1);
      const out = r.stdout.replace(/\n$/, '').split('\n');
      const commands = out.filter((l) => l.startsWith('::'));
      const expected = [...json.errors.map((f) => ({ f, level: 'error' })), ...json.warnings.map((f) => ({ f, level: 'warning' }))].map(
        ({ f, level }) => `::${level} file=${ghProp(f.file)},line=${f.line},col=${f.column},title=${ghProp(f.rule)}::${ghData(f.message)}`,
      );
      assert.deepEqual(commands, expected);
      // Nothing but the commands and one summary line: no raw line breaks from messages.
      assert.equal(out.length, commands.length + 1);
      assert.match(out[out.length - 1]!, /^invalid: /);
      // Spelled out for the file names with %, CR, LF, comma and colon, and the key with % in a message.
      assert.ok(
        commands.some((l) => l.startsWith('::error file=regions/odd%2Cna%3Ame%25.yaml,line=1,col=7,title=schema/unknown-kind::')),
        commands.join('\n'),
      );
      assert.ok(
        commands.some((l) => l.startsWith('::error file=regions/line%0D%0Abreak.yaml,line=1,col=7,title=schema/unknown-kind::')),
        commands.join('\n'),
      );
      const key = commands.find((l) => l.includes('file=regions/cn-guangzhou.yaml') && l.includes('title=schema/unknown-key'));
      assert.ok(key, commands.join('\n'));
      assert.ok(key.includes('"rack%251 row,2: a"'), key);
    });

    it('--format github on a valid fleet prints only the summary', async () => {
      const r = await cli(['validate', '--repo', repoRoot, '--format', 'github']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^valid: .*\n$/);
    });

    it('text output groups findings under one heading per file', async () => {
      brokenCopy();
      const json = parseJsonReport((await cli(['validate', '--repo', tmp, '--format', 'json'])).stdout);
      const r = await cli(['validate', '--repo', tmp]);
      assert.equal(r.code, 1);
      assert.ok(!r.stdout.includes('\x1b['), 'no colour when io.color is false');
      const lines = r.stdout.split('\n');
      const groups = new Map<string, string[]>();
      let current: string[] | undefined;
      for (const line of lines.slice(0, -2)) {
        if (line === '') current = undefined;
        else if (!line.startsWith(' ')) {
          assert.equal(groups.has(line), false, `${line} is a heading twice`);
          current = [];
          groups.set(line, current);
        } else {
          assert.ok(current, `finding line outside a group: ${line}`);
          current.push(line);
        }
      }
      const all = [...json.errors, ...json.warnings];
      assert.deepEqual([...groups.keys()].sort(), [...new Set(all.map((f) => f.file))].sort());
      for (const f of all) {
        const group = groups.get(f.file)!;
        const firstLine = f.message.split(/\r?\n/)[0]!;
        assert.ok(
          group.some((l) => l.trimStart().startsWith(`${f.line}:${f.column} `) && l.includes(firstLine) && l.includes(f.rule)),
          `${f.file} ${f.line}:${f.column} ${f.rule} not under its heading`,
        );
      }
      assert.equal(groups.get('regions/cn-shanghai.yaml')!.length, 1);
      assert.match(groups.get('regions/cn-shanghai.yaml')![0]!, /warning/);
      assert.match(lines[lines.length - 2]!, /^invalid: \d+ errors?, \d+ warnings? in \d+ files?$/);
    });

    it('text output keeps one finding per line when a file name holds a line break', async () => {
      brokenCopy({ lineBreakInName: true });
      const json = parseJsonReport((await cli(['validate', '--repo', tmp, '--format', 'json'])).stdout);
      const files = new Set([...json.errors, ...json.warnings].map((f) => f.file.replace('\r\n', '\\r\\n')));
      assert.ok(files.has('regions/line\\r\\nbreak.yaml'), [...files].join(', '));
      const r = await cli(['validate', '--repo', tmp]);
      const lines = r.stdout.split('\n').slice(0, -2);
      for (const line of lines) {
        assert.ok(line === '' || line.startsWith('  ') || files.has(line), `a stray line in the text output: ${JSON.stringify(line)}`);
        assert.doesNotMatch(line, /\r/);
      }
    });
  });

  describe('region add', () => {
    const frankfurt = ['region', 'add', 'eu-frankfurt', '--area', 'overseas', '--provider', 'aws', '--cloud-region', 'eu-central-1'];

    it('writes regions/eu-frankfurt.yaml with the next free block, a link to Singapore and mirror settings', async () => {
      copyFleet(tmp);
      const r = await cli([...frankfurt, '--repo', tmp, '--write']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /wrote regions\/eu-frankfurt\.yaml/);
      const text = readFileSync(join(tmp, 'regions', 'eu-frankfurt.yaml'), 'utf8');
      assert.match(text, /^# yaml-language-server: \$schema=\.\.\/agent\/schemas\/region\.schema\.json\n/);
      const region: unknown = parse(text);
      assert.ok(isRecord(region));
      assert.equal(region['kind'], 'Region');
      assert.equal(region['name'], 'eu-frankfurt');
      assert.equal(region['area'], 'overseas');
      assert.equal(region['provider'], 'aws');
      assert.equal(region['cidr'], '10.160.0.0/16');
      assert.deepEqual(region['cloud'], { region: 'eu-central-1' });
      const links = region['links'];
      assert.ok(Array.isArray(links) && links.length === 1);
      const link: unknown = links[0];
      assert.ok(isRecord(link));
      assert.equal(link['to'], 'ap-singapore');
      assert.equal(link['type'], 'vpn-ipsec');
      assert.equal(link['mtu'], 1400);
      assert.match(String(link['psk']), /^env:/);
      const mirror = region['mirror'];
      assert.ok(isRecord(mirror));
      assert.equal(mirror['runtime'], 'containerd');
      assert.deepEqual(mirror['registries'], ['harbor-ap-singapore']);
      const df = mirror['dragonfly'];
      assert.ok(isRecord(df));
      assert.equal(df['manager'], 'http://10.128.1.10:65003');
      assert.equal(df['proxyPort'], 4001);

      const report = validateRepo(tmp);
      assert.deepEqual(report.errors, []);
      // Warnings only for what the user still has to fill in, all in the new file.
      assert.deepEqual(
        [...new Set(report.warnings.map((w) => w.file))].filter((f) => f !== 'regions/eu-frankfurt.yaml'),
        [],
      );
      assert.equal(report.fleet.regions.has('eu-frankfurt'), true);
      assert.equal((await cli(['validate', '--repo', tmp])).code, 0);
    });

    it('allocates the following block for the next region', async () => {
      copyFleet(tmp);
      assert.equal((await cli([...frankfurt, '--repo', tmp, '--write'])).code, 0);
      const r = await cli(['region', 'add', 'eu-paris', '--area', 'overseas', '--provider', 'idc', '--repo', tmp, '--write']);
      assert.equal(r.code, 0, r.stderr);
      const region: unknown = parse(readFileSync(join(tmp, 'regions', 'eu-paris.yaml'), 'utf8'));
      assert.ok(isRecord(region));
      assert.equal(region['cidr'], '10.168.0.0/16');
      assert.deepEqual(validateRepo(tmp).errors, []);
    });

    it('counts down in the China area and links a Huawei Cloud region by Cloud Connect', async () => {
      copyFleet(tmp);
      const r = await cli([
        'region',
        'add',
        'cn-chengdu',
        '--area',
        'cn',
        '--provider',
        'huaweicloud',
        '--cloud-region',
        'cn-southwest-2',
        '--repo',
        tmp,
        '--write',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const region: unknown = parse(readFileSync(join(tmp, 'regions', 'cn-chengdu.yaml'), 'utf8'));
      assert.ok(isRecord(region));
      assert.equal(region['cidr'], '10.88.0.0/16');
      const links = region['links'];
      assert.ok(Array.isArray(links));
      const link: unknown = links[0];
      assert.ok(isRecord(link));
      assert.equal(link['to'], 'cn-beijing');
      assert.equal(link['type'], 'cloud-connect');
      assert.deepEqual(validateRepo(tmp).errors, []);
    });

    it('prints the file and writes nothing without --write', async () => {
      copyFleet(tmp);
      const before = listing(tmp);
      const r = await cli([...frankfurt, '--repo', tmp]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(listing(tmp), before);
      assert.equal(existsSync(join(tmp, 'regions', 'eu-frankfurt.yaml')), false);
      const region: unknown = parse(r.stdout);
      assert.ok(isRecord(region));
      assert.equal(region['cidr'], '10.160.0.0/16');
      assert.match(r.stderr, /--write/);
    });

    it('fails on a name that already exists and leaves the file alone', async () => {
      copyFleet(tmp);
      const original = readFileSync(join(tmp, 'regions', 'us-virginia.yaml'), 'utf8');
      const r = await cli(['region', 'add', 'us-virginia', '--area', 'overseas', '--provider', 'aws', '--cloud-region', 'us-east-1', '--repo', tmp, '--write']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /us-virginia/);
      assert.match(r.stderr, /already exists/);
      assert.equal(readFileSync(join(tmp, 'regions', 'us-virginia.yaml'), 'utf8'), original);
    });

    it('fails on a name that is a hub', async () => {
      copyFleet(tmp);
      const r = await cli(['region', 'add', 'ap-singapore', '--area', 'overseas', '--provider', 'idc', '--repo', tmp, '--write']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /already exists/);
    });

    it('fails with a clear message when the area is full', async () => {
      copyFleet(tmp);
      // Four stride blocks (10.128, .136, .144, .152), all taken by the example fleet.
      edit(tmp, 'policies/address-plan.yaml', 'supernet: 10.128.0.0/9', 'supernet: 10.128.0.0/11');
      edit(tmp, 'policies/address-plan.yaml', '  - cidr: 10.248.0.0/13\n    reason: Kubernetes pod and service ranges of every cluster\n', '');
      assert.deepEqual(validateRepo(tmp).errors, [], 'the shrunken plan still holds the fleet');
      const before = listing(tmp);
      const r = await cli([...frankfurt, '--repo', tmp, '--write']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /overseas area is full/);
      assert.match(r.stderr, /10\.128\.0\.0\/11/);
      assert.doesNotMatch(r.stderr, /internal error/);
      assert.deepEqual(listing(tmp), before);
    });

    it('fails for aws without --cloud-region and writes nothing', async () => {
      copyFleet(tmp);
      const before = listing(tmp);
      const r = await cli(['region', 'add', 'eu-frankfurt', '--area', 'overseas', '--provider', 'aws', '--repo', tmp, '--write']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--cloud-region/);
      assert.deepEqual(listing(tmp), before);
    });

    it('fails for idc with a --cloud-region', async () => {
      copyFleet(tmp);
      const r = await cli(['region', 'add', 'eu-paris', '--area', 'overseas', '--provider', 'idc', '--cloud-region', 'eu-west-3', '--repo', tmp]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--cloud-region/);
    });

    it('rejects an invalid name', async () => {
      copyFleet(tmp);
      const r = await cli(['region', 'add', 'EU_Frankfurt', '--area', 'overseas', '--provider', 'idc', '--repo', tmp, '--write']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not a valid name/);
      assert.equal(existsSync(join(tmp, 'regions', 'EU_Frankfurt.yaml')), false);
    });

    it('exits 2 on a missing --area, an unknown provider and a missing --repo directory', async () => {
      assert.equal((await cli(['region', 'add', 'eu-frankfurt', '--provider', 'aws', '--cloud-region', 'x', '--repo', repoRoot])).code, 2);
      assert.equal((await cli(['region', 'add', 'eu-frankfurt', '--area', 'overseas', '--provider', 'gcp', '--repo', repoRoot])).code, 2);
      const r = await cli([...frankfurt, '--repo', join(tmp, 'missing')]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /does not exist/);
    });
  });

  describe('plan and apply: usage errors exit 1 (2 is "changes pending" for plan)', () => {
    for (const command of ['plan', 'apply']) {
      it(`${command} with a --harbor-url that is not a URL`, async () => {
        const r = await cli([command, '--region', 'cn-beijing', '--roles', 'hub', '--repo', repoRoot, '--root', tmp, '--harbor-url', 'not-a-url']);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stderr, 'mirrornet: --harbor-url not-a-url: not an http(s) URL; write e.g. https://harbor.sg.example.internal.\n');
      });
    }

    it('plan with an unknown role', async () => {
      const r = await cli(['plan', '--region', 'cn-beijing', '--roles', 'hub,router', '--repo', repoRoot, '--root', tmp]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, 'mirrornet: Unknown role "router": use a comma-separated list of gateway, node, hub.\n');
    });
  });

  describe('schema --check', () => {
    it('reports the committed agent/schemas current', async () => {
      const r = await cli(['schema', '--check', '--out', join(repoRoot, 'agent', 'schemas')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\d+ schemas are current/);
    });

    it('exits 1 and names a stale schema', async () => {
      cpSync(join(repoRoot, 'agent', 'schemas'), join(tmp, 'schemas'), { recursive: true });
      writeFileSync(join(tmp, 'schemas', 'region.schema.json'), '{}\n');
      const r = await cli(['schema', '--check', '--out', join(tmp, 'schemas')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /region\.schema\.json/);
    });
  });

  describe('rules', () => {
    it('--format markdown lists every registered rule id once', async () => {
      const r = await cli(['rules', '--format', 'markdown']);
      assert.equal(r.code, 0);
      const rows = r.stdout.split('\n').filter((l) => /^\| `/.test(l));
      const ids = rows.map((l) => /^\| `([^`]+)` \|/.exec(l)?.[1]);
      assert.deepEqual([...ids].sort(), [...RULES.keys()].sort());
      for (const row of rows) assert.equal(row.split(/(?<!\\)\|/).length, 6, `a table row with a stray |: ${row}`);
    });

    it('text format lists every rule id', async () => {
      const r = await cli(['rules']);
      assert.equal(r.code, 0);
      for (const id of RULES.keys()) assert.match(r.stdout, new RegExp(`^${id.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s`, 'm'));
    });
  });

  describe('secrets', () => {
    const refused = (option: string) =>
      `mirrornet: ${option} takes a secret reference, env:NAME (an environment variable on this host) or file:/absolute/path (a file on it), ` +
      'never the secret itself; the value given is not one and is not repeated here. If it was the secret, rotate it: ' +
      'it may be in the shell history or the process list.\n';

    it('refuses a secret given where a reference is expected, without repeating it', async () => {
      const r = await cli([
        'plan',
        '--region',
        'us-virginia',
        '--roles',
        'gateway',
        '--repo',
        repoRoot,
        '--root',
        tmp,
        '--huaweicloud-sk',
        'literal-sk-cli-1a2b3c4d',
      ]);
      assert.equal(r.code, 1, 'a usage error of plan exits 1 (2 is "changes pending")');
      assert.equal(r.stderr, refused('--huaweicloud-sk'));
      const bin = join(repoRoot, 'agent', 'bin', 'mirrornet.js');
      const token = 'ghp_0123456789abcdefghij0123456789abcdef';
      const agent = spawnSync(
        process.execPath,
        [bin, 'agent', '--region', 'us-virginia', '--repo-url', 'http://127.0.0.1:9/x.git', '--root', tmp, '--github-token', token, '--once'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(agent.status, 1, agent.stderr);
      assert.equal(agent.stderr, refused('--github-token'));
      assert.equal(agent.stdout, '');
    });

    it('an error sentence never repeats a resolved secret or a credential variable', async () => {
      const fromFile = join(tmp, 'token');
      writeFileSync(fromFile, 'file-secret-cli-6a5b4c\n');
      await hostSecrets().resolve(`file:${fromFile}`);
      process.env['MIRRORNET_CLI_TEST_TOKEN'] = 'envvar-secret-cli-9d8c7b';
      try {
        const r = await cli(['validate', '--repo', '/nonexistent/envvar-secret-cli-9d8c7b/file-secret-cli-6a5b4c']);
        assert.equal(r.code, 2);
        assert.equal(
          r.stderr,
          'mirrornet: /nonexistent/***/*** does not exist: pass --repo with the path of a clone of the configuration repository ' +
            '(a directory with hubs/, regions/, harbor/ and policies/).\n',
        );
      } finally {
        delete process.env['MIRRORNET_CLI_TEST_TOKEN'];
      }
    });
  });

  describe('the installed binary', () => {
    const bin = join(repoRoot, 'agent', 'bin', 'mirrornet.js');

    it('validates the example fleet end to end with exit 0', () => {
      const r = spawnSync(process.execPath, [bin, 'validate', '--repo', repoRoot], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /^valid: /m);
    });

    it('exits 1 on an invalid copy and 2 on a usage error', () => {
      copyFleet(tmp);
      edit(tmp, 'regions/us-virginia.yaml', 'cidr: 10.144.0.0/16', 'cidr: 10.144.0.1/16');
      const bad = spawnSync(process.execPath, [bin, 'validate', '--repo', tmp, '--format', 'json'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(bad.status, 1, bad.stderr);
      assert.ok(parseJsonReport(bad.stdout).errors.some((e) => e.rule === 'cidr/not-aligned'));
      const usage = spawnSync(process.execPath, [bin, 'validate', '--nope'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(usage.status, 2);
    });
  });
});
