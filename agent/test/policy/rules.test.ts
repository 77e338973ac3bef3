// A passing and a failing fixture for every rule of the validator.
//
// The passing fixture is agent/test/fixtures/fleet-small: a small fleet with every link type, p2p, static
// routes, both runtimes, S3 and filesystem storage, replication, robots and a proxy-cache project, that
// validates with no finding at all. Every failing case below breaks one thing in it (in memory, through
// `validateFiles`; or on disk, through `validateRepo`, for what only a file system can show) and names the
// rule, the file and the line the finding must point at. A registered rule without a failing case fails
// this file, so a new rule cannot land without its test. Rules that compare a change with its base (`validate
// --base`) have cases that edit the fixture and compare the result with the fixture as it was.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Finding, Severity } from '../../src/model/finding.js';
import { MODEL_DIRECTORIES, type VirtualFile } from '../../src/model/loader.js';
import { compareWithBase } from '../../src/cli/validate.js';
import { RULES } from '../../src/policy/registry.js';
import { validateFiles, validateRepo, type Report } from '../../src/policy/validate.js';
import { need } from '../support/capabilities.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/fleet-small', import.meta.url));
const VALIDATE_MODULE = new URL('../../src/policy/validate.js', import.meta.url).href;

// ---- The fixture as files in memory ----------------------------------------------------------------

type FileSet = Map<string, string | Buffer>;

function loadFixture(): FileSet {
  const files: FileSet = new Map();
  for (const dir of MODEL_DIRECTORIES) {
    for (const entry of readdirSync(join(FIXTURE, dir)).sort()) {
      files.set(`${dir}/${entry}`, readFileSync(join(FIXTURE, dir, entry), 'utf8'));
    }
  }
  return files;
}

const BASE = loadFixture();

function toVirtual(files: FileSet): VirtualFile[] {
  return [...files.entries()].map(([path, content]) => ({ path, content }));
}

function textOf(files: FileSet, path: string): string {
  const content = files.get(path);
  if (typeof content !== 'string') throw new Error(`test bug: ${path} is not a text file of the fixture`);
  return content;
}

// ---- Mutations -----------------------------------------------------------------------------------

type Mutation = (files: FileSet) => void;

/** Replace text that occurs exactly once in a file (so a mutation can never silently do nothing). */
function replace(path: string, from: string, to: string): Mutation {
  return (files) => {
    const text = textOf(files, path);
    const at = text.indexOf(from);
    if (at < 0) throw new Error(`test bug: ${JSON.stringify(from)} is not in ${path}`);
    if (text.indexOf(from, at + 1) >= 0) throw new Error(`test bug: ${JSON.stringify(from)} occurs more than once in ${path}`);
    files.set(path, text.slice(0, at) + to + text.slice(at + from.length));
  };
}

function write(path: string, content: string | Buffer): Mutation {
  return (files) => {
    files.set(path, content);
  };
}

function remove(path: string): Mutation {
  return (files) => {
    if (!files.delete(path)) throw new Error(`test bug: ${path} is not in the fixture`);
  };
}

/** Copy a file of the (already mutated) set to a new path, editing it on the way. */
function copy(from: string, to: string, ...edits: [string, string][]): Mutation {
  return (files) => {
    files.set(to, textOf(files, from));
    for (const [a, b] of edits) replace(to, a, b)(files);
  };
}

// ---- Cases ---------------------------------------------------------------------------------------

interface Case {
  rule: string;
  /** What is broken, as a behaviour. */
  title: string;
  mutate: Mutation[];
  /** Where the finding must point: a line number, or the first line of the mutated file containing this text. */
  at: { file: string; line: number | string; column?: number };
  /** Defaults to the rule's registered severity. */
  severity?: Severity;
  /** The finding's message contains each of these. */
  says?: (string | RegExp)[];
  /** No message of the whole report contains any of these (secrets). */
  neverSays?: string[];
}

const HEADER = (schema: string) => `# yaml-language-server: $schema=../../../../schemas/${schema}.schema.json\n`;
const MIB = 1024 * 1024;
const JAKARTA = 'regions/ap-jakarta.yaml';
const VIRGINIA = 'regions/us-virginia.yaml';
const AMSTERDAM = 'regions/eu-amsterdam-idc.yaml';
const SHANGHAI = 'regions/cn-shanghai.yaml';
const HANGZHOU = 'regions/cn-hangzhou-idc.yaml';
const SINGAPORE = 'hubs/ap-singapore.yaml';
const BEIJING = 'hubs/cn-beijing.yaml';
const HARBOR_BJ = 'harbor/harbor-cn-beijing.yaml';
const HARBOR_SG = 'harbor/harbor-ap-singapore.yaml';
const NOTIFICATIONS = 'policies/notifications.yaml';
/** A clean Notifications policy for fleet-small (no finding): the notifications/* cases break one thing in it. */
const NOTIFY =
  `${HEADER('notifications')}kind: Notifications\nname: notifications\nchannels:\n` +
  '  - name: network-cn\n    type: feishu\n    url: env:MN_FEISHU_URL\n    secret: env:MN_FEISHU_SECRET\n' +
  '  - name: oncall\n    type: dingtalk\n    url: env:MN_DINGTALK_URL\n    secret: env:MN_DINGTALK_SECRET\n    rateLimit:\n      perMinute: 20\n' +
  '  - name: registry\n    type: wecom\n    url: env:MN_WECOM_URL\n' +
  '  - name: audit\n    type: webhook\n    url: env:MN_AUDIT_URL\n    secret: env:MN_AUDIT_SECRET\n' +
  'routes:\n' +
  '  - match:\n      areas: [cn]\n    channels: [network-cn]\n' +
  '  - name: cn-oncall\n    match:\n      regions: [cn-shanghai]\n      events: [apply-failed, drift-detected]\n    channels: [oncall, registry]\n' +
  '  - channels: [audit]\n';

/** A mute window for NOTIFY, whose second route is named cn-oncall. */
const MUTE = 'muteWindows:\n  - name: saturday\n    schedule: 0 2 * * 6\n    duration: 2h\n    timeZone: Asia/Shanghai\n    routes: [cn-oncall]\n';

const ROLLOUT = 'policies/rollout.yaml';
/** A clean rollout policy for fleet-small (no finding): the rollout/* cases break one thing in it. */
const ROLLOUT_POLICY =
  `${HEADER('rollout-policy')}kind: RolloutPolicy\nname: rollout\nsoakTime: 10m\nwaves:\n` +
  '  - name: canary\n    sites: [cn-hangzhou-idc]\n' +
  '  - name: china\n    match:\n      areas: [cn]\n' +
  '  - name: overseas\n    match:\n      areas: [overseas]\n' +
  'windows:\n  - name: cn-day\n    area: cn\n    schedule: 0 10 * * 1-5\n    duration: 7h\n    timeZone: Asia/Shanghai\n';

const ACKNOWLEDGED = 'policies/acknowledged-removals.yaml';
const ACK_HEAD = `${HEADER('acknowledged-removals')}kind: AcknowledgedRemovals\nname: acknowledged-removals\nremovals:\n`;

const JAKARTA_LINKS = 'links:\n  - to: ap-singapore\n    type: peering\n    peeringId: peering-sg-jkt\n    mtu: 1500\n    mssClamp: true\n';
const BEIJING_LINKS =
  'links:\n  - to: ap-singapore\n    type: cloud-connect\n    description: Beijing <-> Singapore dedicated line\n' +
  '    instanceId: cc-small\n    mtu: 1500\n    mssClamp: true\n';

/** A small alias bomb: 10 x 10 x 10 x 10 expansions of one scalar. */
const ALIAS_BOMB =
  'a: &a [x, x, x, x, x, x, x, x, x, x]\n' +
  'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n' +
  'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n' +
  'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n';

const CASES: Case[] = [
  // ---- file/* (in memory) ----
  {
    rule: 'file/too-large',
    title: 'a text file over 1 MiB',
    mutate: [write('regions/huge.yaml', `${HEADER('region')}description: "${'x'.repeat(MIB)}"\n`)],
    at: { file: 'regions/huge.yaml', line: 1 },
    says: ['1 MiB'],
  },
  {
    rule: 'file/too-large',
    title: 'a byte buffer over 1 MiB',
    mutate: [write('regions/huge.yaml', Buffer.alloc(MIB + 1, 0x20))],
    at: { file: 'regions/huge.yaml', line: 1 },
    says: [String(MIB + 1), '1 MiB'],
  },
  {
    rule: 'file/too-large',
    title: 'a text file over 1 MiB of UTF-8 though under 1 Mi characters',
    mutate: [write('regions/huge.yaml', `${HEADER('region')}description: "${'\u5317'.repeat(400 * 1024)}"\n`)],
    at: { file: 'regions/huge.yaml', line: 1 },
    says: ['1 MiB'],
  },
  {
    rule: 'file/encoding',
    title: 'a file saved as Latin-1, pointing at the first bad byte',
    mutate: [
      write(
        'regions/cn-wuhan.yaml',
        Buffer.concat([Buffer.from(`${HEADER('region')}kind: Region\nname: cn-wuhan\ndescription: caf`), Buffer.from([0xe9]), Buffer.from('\n')]),
      ),
    ],
    at: { file: 'regions/cn-wuhan.yaml', line: 4, column: 17 },
    says: ['UTF-8', 'line 4, column 17'],
  },
  {
    rule: 'file/empty',
    title: 'a file with only comments',
    mutate: [write('regions/cn-wuhan.yaml', `${HEADER('region')}# to do: fill in\n`)],
    at: { file: 'regions/cn-wuhan.yaml', line: 1 },
  },
  {
    rule: 'file/empty',
    title: 'a file of zero bytes',
    mutate: [write('regions/cn-wuhan.yaml', '')],
    at: { file: 'regions/cn-wuhan.yaml', line: 1 },
  },

  {
    rule: 'file/too-many-findings',
    title: '150 unknown keys as the first 100 findings and one that counts the other 50, at the 101st',
    mutate: [replace(JAKARTA, 'kind: Region\n', `kind: Region\n${Array.from({ length: 150 }, (_, i) => `unknown${i}: 1\n`).join('')}`)],
    at: { file: JAKARTA, line: 'unknown100: 1' },
    says: ['50 more findings', 'first 100'],
  },

  // ---- yaml/* ----
  {
    rule: 'yaml/syntax',
    title: 'an unclosed flow sequence, at the line that opens it',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16', 'cidr: [10.136.0.0/16')],
    at: { file: JAKARTA, line: 'cidr: [10.136.0.0/16' },
  },
  {
    rule: 'yaml/syntax',
    title: 'an unclosed quote, at the line that opens it',
    mutate: [replace(JAKARTA, 'description: Indonesia', 'description: "Indonesia')],
    at: { file: JAKARTA, line: 'description: "Indonesia' },
  },
  {
    rule: 'yaml/syntax',
    title: 'a duplicate key, at the second occurrence',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16\n', 'cidr: 10.136.0.0/16\ncidr: 10.137.0.0/16\n')],
    at: { file: JAKARTA, line: 'cidr: 10.137.0.0/16' },
  },
  {
    rule: 'yaml/multiple-documents',
    title: 'a second document after ---, at the separator',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\n---\nkind: Region\n')],
    at: { file: JAKARTA, line: '---' },
  },
  {
    rule: 'yaml/tag',
    title: 'a !!binary value (the parser makes it bytes, without a warning), at its line',
    mutate: [replace(JAKARTA, 'description: Indonesia', 'description: !!binary SW5kb25lc2lh\ntitle: Indonesia')],
    at: { file: JAKARTA, line: 'description: !!binary', column: 23 },
    says: ['!!binary', 'remove the tag'],
  },
  {
    rule: 'yaml/tag',
    title: 'an unknown !foo tag (the parser only warns), at its line',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16', 'cidr: !cidr 10.136.0.0/16')],
    at: { file: JAKARTA, line: 'cidr: !cidr', column: 13 },
    says: ['!cidr'],
  },
  {
    rule: 'yaml/tag',
    title: 'a core tag whose value does not fit it (!!int on a word), at its line',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\ncount: !!int many\n')],
    at: { file: JAKARTA, line: 'count: !!int many', column: 8 },
    says: ['!!int'],
  },
  {
    rule: 'yaml/warning',
    title: 'an unknown directive (the parser only warns), at its line',
    mutate: [replace(JAKARTA, '# yaml-language-server', '%FOO bar\n---\n# yaml-language-server')],
    at: { file: JAKARTA, line: 1, column: 1 },
    says: ['%FOO'],
  },
  {
    rule: 'yaml/control-character',
    title: 'a raw NUL byte inside a value, at its line and column',
    mutate: [replace(JAKARTA, 'description: Indonesia', 'description: Indo\u0000nesia')],
    at: { file: JAKARTA, line: 'description: Indo', column: 18 },
    says: ['U+0000'],
  },
  {
    rule: 'yaml/control-character',
    title: 'an escape character written as \\e in a double-quoted string, at the string',
    mutate: [replace(JAKARTA, 'description: Indonesia clusters,', 'description: "Indonesia \\e[2J clusters"\ntitle: x,')],
    at: { file: JAKARTA, line: 'description: "Indonesia', column: 14 },
    says: ['U+001B'],
  },
  {
    rule: 'yaml/control-character',
    title: 'a bell character on the second line of a block string, at that line',
    mutate: [replace(JAKARTA, 'description: Indonesia clusters,', 'description: |\n  Indonesia clusters\n  on Huawei\u0007 Cloud\ntitle: x,')],
    at: { file: JAKARTA, line: '  on Huawei', column: 12 },
    says: ['U+0007'],
  },
  {
    rule: 'yaml/control-character',
    title: 'a raw NUL byte inside a label key (labels take any key), at the key',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\nlabels:\n  te\u0000am: network\n')],
    at: { file: JAKARTA, line: '  te', column: 5 },
    says: ['This key holds the control character U+0000; keys are plain text without control characters: remove it.'],
  },
  {
    rule: 'yaml/control-character',
    title: 'an escape character written as \\e in a double-quoted key, at the key',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\nlabels:\n  "team\\e[2J": network\n')],
    at: { file: JAKARTA, line: '  "team', column: 3 },
    says: ['This key holds the control character U+001B'],
  },
  {
    rule: 'yaml/control-character',
    title: 'a line break in a quoted key (values may hold one, keys not), at the key',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\nlabels:\n  "rack 1\\nrow 2": a\n')],
    at: { file: JAKARTA, line: '  "rack 1', column: 3 },
    says: ['This key holds the control character U+000A'],
  },
  {
    rule: 'yaml/reserved-key',
    title: 'a __proto__ key at the top level, at the key',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\n__proto__:\n  polluted: true\n')],
    at: { file: JAKARTA, line: '__proto__:', column: 1 },
    says: ['__proto__'],
  },
  {
    rule: 'yaml/reserved-key',
    title: 'a constructor key nested in a label map, at the key',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\nlabels:\n  constructor: x\n')],
    at: { file: JAKARTA, line: '  constructor: x', column: 3 },
    says: ['constructor'],
  },
  {
    rule: 'yaml/reserved-key',
    title: 'a prototype key inside a list item, at the key',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\nroutes:\n  - prototype: 10.0.0.0/8\n')],
    at: { file: JAKARTA, line: '  - prototype:', column: 5 },
    says: ['prototype'],
  },
  {
    rule: 'yaml/aliases',
    title: 'an alias bomb',
    mutate: [write('regions/cn-wuhan.yaml', `${HEADER('region')}kind: Region\nname: cn-wuhan\n${ALIAS_BOMB}`)],
    at: { file: 'regions/cn-wuhan.yaml', line: 1 },
    says: ['100'],
  },

  // ---- schema/* ----
  {
    rule: 'schema/header',
    title: 'a file without the yaml-language-server line',
    mutate: [replace('policies/routing.yaml', HEADER('routing-policy'), '')],
    at: { file: 'policies/routing.yaml', line: 1 },
    says: ['yaml-language-server'],
  },
  {
    rule: 'schema/unknown-kind',
    title: 'a misspelled kind, with the kind it probably meant',
    mutate: [replace(JAKARTA, 'kind: Region', 'kind: Regoin')],
    at: { file: JAKARTA, line: 'kind: Regoin' },
    says: ['"Region"'],
  },
  {
    rule: 'schema/unknown-kind',
    title: 'no kind at all',
    mutate: [replace(JAKARTA, 'kind: Region\n', '')],
    at: { file: JAKARTA, line: 'name: ap-jakarta' },
    says: ['Region', 'Hub'],
  },
  {
    rule: 'schema/wrong-directory',
    title: 'a Region under hubs/',
    mutate: [copy(JAKARTA, 'hubs/ap-jakarta.yaml'), remove(JAKARTA)],
    at: { file: 'hubs/ap-jakarta.yaml', line: 'kind: Region' },
    says: ['regions/'],
  },
  {
    rule: 'schema/name-mismatch',
    title: 'a name that differs from the file name',
    mutate: [replace(JAKARTA, 'name: ap-jakarta', 'name: ap-surabaya')],
    at: { file: JAKARTA, line: 'name: ap-surabaya' },
    says: ['"ap-jakarta"'],
  },
  {
    rule: 'schema/duplicate-name',
    title: 'the same region as .yaml and .yml',
    mutate: [copy(VIRGINIA, 'regions/us-virginia.yml')],
    at: { file: 'regions/us-virginia.yml', line: 'name: us-virginia' },
    says: [VIRGINIA],
  },
  {
    rule: 'schema/duplicate-name',
    title: 'a region with the name of a hub (one namespace for sites)',
    mutate: [copy(AMSTERDAM, 'regions/ap-singapore.yaml', ['name: eu-amsterdam-idc', 'name: ap-singapore'])],
    at: { file: 'regions/ap-singapore.yaml', line: 'name: ap-singapore' },
    says: [SINGAPORE],
  },
  {
    rule: 'schema/duplicate-name',
    title: 'a second RoutingPolicy, at the one later in path order',
    mutate: [copy('policies/routing.yaml', 'policies/strict-routing.yaml', ['name: routing', 'name: strict-routing'])],
    at: { file: 'policies/strict-routing.yaml', line: 'kind: RoutingPolicy' },
    says: ['policies/routing.yaml'],
  },
  {
    rule: 'schema/unknown-key',
    title: 'proxyport instead of proxyPort (dfdaemon would ignore it silently)',
    mutate: [replace(JAKARTA, 'proxyPort: 4001', 'proxyport: 4001')],
    at: { file: JAKARTA, line: 'proxyport: 4001', column: 5 },
    says: ['"proxyport"', 'Did you mean "proxyPort"?'],
  },
  {
    rule: 'schema/unknown-key',
    title: 'a misspelled key inside one variant of the link union',
    mutate: [replace(JAKARTA, 'peeringId: peering-sg-jkt', 'peeringID: peering-sg-jkt')],
    at: { file: JAKARTA, line: 'peeringID: peering-sg-jkt' },
    says: ['Did you mean "peeringId"?'],
  },
  {
    rule: 'schema/required',
    title: 'a region without cidr, at the top of the object',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16\n', '')],
    at: { file: JAKARTA, line: 'kind: Region' },
    says: ['"cidr"'],
  },
  {
    rule: 'schema/required',
    title: 'a cloud-connect link without instanceId, at the link',
    mutate: [replace(SHANGHAI, '    instanceId: cc-small\n', '')],
    at: { file: SHANGHAI, line: '- to: cn-beijing' },
    says: ['"instanceId"'],
  },
  {
    rule: 'schema/type',
    title: 'an MTU written as a string',
    mutate: [replace(VIRGINIA, 'mtu: 1400', 'mtu: "1400"')],
    at: { file: VIRGINIA, line: 'mtu: "1400"' },
    says: ['must be a number', 'not string'],
  },
  {
    rule: 'schema/value',
    title: 'an unknown area',
    mutate: [replace(JAKARTA, 'area: overseas', 'area: europe')],
    at: { file: JAKARTA, line: 'area: europe' },
    says: ['cn, overseas', '"europe"'],
  },
  {
    rule: 'schema/value',
    title: 'a misspelled link type, with the type it probably meant',
    mutate: [replace(AMSTERDAM, 'type: wireguard', 'type: wireguar')],
    at: { file: AMSTERDAM, line: 'type: wireguar' },
    says: ['Did you mean "wireguard"?'],
  },
  {
    rule: 'schema/format',
    title: 'a CIDR without prefix length',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16', 'cidr: 10.136.0.0')],
    at: { file: JAKARTA, line: 'cidr: 10.136.0.0' },
    says: ['"10.136.0.0"'],
  },
  {
    rule: 'schema/format',
    title: 'a gateway address with an octet over 255',
    mutate: [replace(JAKARTA, 'address: 10.136.0.10', 'address: 10.136.0.256')],
    at: { file: JAKARTA, line: 'address: 10.136.0.256', column: 14 },
    says: ['"10.136.0.256"', '0-255'],
  },
  {
    rule: 'schema/format',
    title: 'a WireGuard endpoint with a port over 65535',
    mutate: [replace(HANGZHOU, 'endpoint: 203.0.113.10:51820', 'endpoint: 203.0.113.10:70000')],
    at: { file: HANGZHOU, line: 'endpoint: 203.0.113.10:70000', column: 17 },
    says: ['"203.0.113.10:70000"', '1-65535'],
  },
  {
    rule: 'schema/format',
    title: 'a scheduler at port 0',
    mutate: [replace(SINGAPORE, 'schedulers: [10.128.1.11:8002]', 'schedulers: [10.128.1.11:0]')],
    at: { file: SINGAPORE, line: 'schedulers: [10.128.1.11:0]', column: 16 },
    says: ['"10.128.1.11:0"'],
  },
  {
    rule: 'schema/format',
    title: 'a Dragonfly manager URL with a port over 65535',
    mutate: [replace(JAKARTA, 'manager: http://10.128.1.10:65003', 'manager: http://10.128.1.10:650030')],
    at: { file: JAKARTA, line: 'manager: http://10.128.1.10:650030', column: 14 },
    says: ['"http://10.128.1.10:650030"'],
  },
  {
    rule: 'schema/format',
    title: 'a Harbor host name with an underscore (not RFC 1123)',
    mutate: [replace(HARBOR_SG, 'hostname: harbor.sg.small.internal', 'hostname: harbor_sg.small.internal')],
    at: { file: HARBOR_SG, line: 'hostname: harbor_sg', column: 11 },
    says: ['"harbor_sg.small.internal"', 'RFC 1123'],
  },
  {
    rule: 'schema/format',
    title: 'a Harbor database host that is an address with an octet over 255',
    mutate: [replace(HARBOR_SG, 'host: 10.128.2.20', 'host: 10.128.2.300')],
    at: { file: HARBOR_SG, line: 'host: 10.128.2.300', column: 9 },
    says: ['"10.128.2.300"'],
  },
  {
    rule: 'schema/format',
    title: 'a Harbor Redis host with a port over 65535',
    mutate: [replace(HARBOR_SG, 'host: 10.128.2.30:6379', 'host: 10.128.2.30:99999')],
    at: { file: HARBOR_SG, line: 'host: 10.128.2.30:99999', column: 9 },
    says: ['"10.128.2.30:99999"'],
  },
  {
    rule: 'schema/range',
    title: 'an MTU of 100',
    mutate: [replace(AMSTERDAM, 'mtu: 1420', 'mtu: 100')],
    at: { file: AMSTERDAM, line: 'mtu: 100' },
    says: ['at least 576'],
  },

  // ---- secrets/plaintext ----
  {
    rule: 'secrets/plaintext',
    title: 'an IPsec pre-shared key in the repository, never echoed',
    mutate: [replace(VIRGINIA, 'psk: env:MIRRORNET_PSK_US_VIRGINIA', 'psk: hunter2-correct-horse')],
    at: { file: VIRGINIA, line: 'psk: hunter2-correct-horse' },
    says: ['env:NAME', 'file:/'],
    neverSays: ['hunter2-correct-horse', 'hunter2'],
  },
  {
    rule: 'secrets/plaintext',
    title: 'a Harbor database password in the repository, never echoed',
    mutate: [replace(HARBOR_SG, 'password: file:/etc/mirrornet/harbor-db-password', 'password: "S3cr3t!db"')],
    at: { file: HARBOR_SG, line: 'password: "S3cr3t!db"' },
    neverSays: ['S3cr3t!db'],
  },

  {
    rule: 'secrets/url-credentials',
    title: 'a token inside the S3 region endpoint URL, never echoed',
    mutate: [replace(HARBOR_BJ, 'regionendpoint: https://s3.bj.small.internal', 'regionendpoint: https://AKIAEXAMPLE0token@s3.bj.small.internal')],
    at: { file: HARBOR_BJ, line: 'regionendpoint: https://AKIA' },
    says: ['This URL holds credentials'],
    neverSays: ['AKIAEXAMPLE0token'],
  },
  {
    rule: 'secrets/url-credentials',
    title: 'a Harbor endpoint URL with user:password before the host, never echoed',
    mutate: [replace(HARBOR_SG, 'url: https://hub.docker.com', 'url: https://mirror-bot:dckr_pat_Q7x9@hub.docker.com')],
    at: { file: HARBOR_SG, line: 'url: https://mirror-bot', column: 10 },
    says: [
      'This URL holds credentials (user:password@ or token@ before the host), and secrets never live in the repository: remove them from the URL, ' +
        'give them as a secret reference (env:NAME or file:/absolute/path) in the field meant for them, and rotate them if they were ever committed.',
    ],
    neverSays: ['dckr_pat_Q7x9', 'mirror-bot'],
  },
  {
    rule: 'secrets/url-credentials',
    title: 'a token before the host of a URL in a description (any string), never echoed',
    mutate: [replace(JAKARTA, 'description: Indonesia', 'description: see https://ghp_R2d2C3po@git.example.internal/net/runbook for Indonesia')],
    at: { file: JAKARTA, line: 'description: see', column: 14 },
    neverSays: ['ghp_R2d2C3po'],
  },

  // ---- policy/missing, sites/* ----
  {
    rule: 'policy/missing',
    title: 'no address plan',
    mutate: [remove('policies/address-plan.yaml')],
    at: { file: 'policies/address-plan.yaml', line: 1 },
    says: ['AddressPlan'],
  },
  {
    rule: 'policy/missing',
    title: 'no region defaults (a warning: only `region add` needs them)',
    mutate: [remove('policies/region-defaults.yaml')],
    at: { file: 'policies/region-defaults.yaml', line: 1 },
    severity: 'warning',
  },
  {
    rule: 'sites/core',
    title: 'a second overseas core',
    mutate: [
      write(
        'hubs/eu-frankfurt.yaml',
        `${HEADER('hub')}kind: Hub\nname: eu-frankfurt\narea: overseas\nprovider: idc\ncidr: 10.160.0.0/16\n` +
          'gateways:\n  - name: gw1\n    address: 10.160.0.10\n' +
          'dragonfly:\n  manager: http://10.160.1.10:65003\n  schedulers: [10.160.1.11:8002]\n',
      ),
    ],
    at: { file: 'hubs/eu-frankfurt.yaml', line: 'area: overseas' },
    says: ['ap-singapore'],
  },
  {
    rule: 'sites/core',
    title: 'China regions without a China core',
    mutate: [replace(BEIJING, 'area: cn', 'area: overseas')],
    at: { file: HANGZHOU, line: 'area: cn' },
    says: ['Area cn has no core'],
  },
  {
    rule: 'sites/cloud',
    title: 'an AWS region without cloud',
    mutate: [replace(VIRGINIA, 'cloud:\n  region: us-east-1\n  vpcId: vpc-0a1b2c3d4e5f60718\n  routeTables: [rtb-0f1e2d3c4b5a69788]\n', '')],
    at: { file: VIRGINIA, line: 'provider: aws' },
  },
  {
    rule: 'sites/cloud',
    title: 'an IDC with a cloud location',
    mutate: [replace(AMSTERDAM, 'provider: idc\n', 'provider: idc\ncloud:\n  region: eu-west-0\n')],
    at: { file: AMSTERDAM, line: 'region: eu-west-0' },
  },
  {
    rule: 'sites/cloud-incomplete',
    title: 'a Huawei Cloud region without vpcId',
    mutate: [replace(JAKARTA, '  vpcId: vpc-jkt-0001\n', '')],
    at: { file: JAKARTA, line: 'region: ap-southeast-4' },
    says: ['vpcId'],
  },
  {
    rule: 'sites/cloud-incomplete',
    title: 'a Huawei Cloud region without projectId',
    mutate: [replace(JAKARTA, '  projectId: 7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a\n', '')],
    at: { file: JAKARTA, line: 'region: ap-southeast-4' },
    says: ['projectId'],
  },
  {
    rule: 'sites/address',
    title: 'a gateway outside the site CIDR',
    mutate: [replace(JAKARTA, 'address: 10.136.0.10', 'address: 10.200.0.10')],
    at: { file: JAKARTA, line: 'address: 10.200.0.10' },
    says: ['10.136.0.0/16'],
  },
  {
    rule: 'sites/address',
    title: "a Dragonfly scheduler outside the core's CIDR",
    mutate: [replace(SINGAPORE, 'schedulers: [10.128.1.11:8002]', 'schedulers: [10.129.1.11:8002]')],
    at: { file: SINGAPORE, line: 'schedulers: [10.129.1.11:8002]' },
    says: ['10.129.1.11'],
  },
  {
    rule: 'sites/gateway',
    title: 'two gateways with one name',
    mutate: [replace(JAKARTA, '    address: 10.136.0.10\n', '    address: 10.136.0.10\n  - { name: gw1, address: 10.136.0.11 }\n')],
    at: { file: JAKARTA, line: '{ name: gw1, address: 10.136.0.11 }' },
    says: ['"gw1"'],
  },
  {
    rule: 'sites/retiring-core',
    title: 'a core marked retiring',
    mutate: [replace(BEIJING, 'kind: Hub\n', 'kind: Hub\nlifecycle: retiring\n')],
    at: { file: BEIJING, line: 'lifecycle: retiring' },
    says: ['cn-beijing is a core: a core cannot retire', 'lifecycle: active'],
  },

  // ---- cidr/* ----
  {
    rule: 'cidr/invalid',
    title: 'an octet above 255',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16', 'cidr: 10.300.0.0/16')],
    at: { file: JAKARTA, line: 'cidr: 10.300.0.0/16' },
    says: ['10.300.0.0/16'],
  },
  {
    rule: 'cidr/not-aligned',
    title: 'a host address as a site CIDR, with the aligned form',
    mutate: [replace(SINGAPORE, 'cidr: 10.128.0.0/16', 'cidr: 10.128.0.1/16')],
    at: { file: SINGAPORE, line: 'cidr: 10.128.0.1/16' },
    says: ['write 10.128.0.0/16'],
  },
  {
    rule: 'cidr/not-aligned',
    title: 'an unaligned protected destination in the guardrails',
    mutate: [replace('policies/guardrails.yaml', '- 10.120.0.0/16', '- 10.120.0.1/16')],
    at: { file: 'policies/guardrails.yaml', line: '- 10.120.0.1/16' },
    says: ['10.120.0.0/16'],
  },
  {
    rule: 'cidr/area',
    title: 'an overseas region in the China supernet, with the next free overseas block',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16', 'cidr: 10.64.0.0/16'), replace(JAKARTA, 'address: 10.136.0.10', 'address: 10.64.0.10')],
    at: { file: JAKARTA, line: 'cidr: 10.64.0.0/16' },
    says: ['cn supernet', 'next free block 10.136.0.0/16'],
  },
  {
    rule: 'cidr/prefix-length',
    title: 'a /20 where the plan says /16',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16', 'cidr: 10.136.0.0/20')],
    at: { file: JAKARTA, line: 'cidr: 10.136.0.0/20' },
    says: ['/16', '/20'],
  },
  {
    rule: 'cidr/stride',
    title: 'a /16 between two stride blocks',
    mutate: [replace(VIRGINIA, 'cidr: 10.144.0.0/16', 'cidr: 10.145.0.0/16'), replace(VIRGINIA, 'address: 10.144.0.10', 'address: 10.145.0.10')],
    at: { file: VIRGINIA, line: 'cidr: 10.145.0.0/16' },
    says: ['next free block 10.160.0.0/16'],
  },
  {
    rule: 'cidr/overlap',
    title: 'two regions on one /16, with the next free block',
    mutate: [replace(VIRGINIA, 'cidr: 10.144.0.0/16', 'cidr: 10.136.0.0/16'), replace(VIRGINIA, 'address: 10.144.0.10', 'address: 10.136.0.11')],
    at: { file: VIRGINIA, line: 'cidr: 10.136.0.0/16' },
    says: ['ap-jakarta', 'next free block 10.144.0.0/16'],
  },
  {
    rule: 'cidr/overlap',
    title: 'two regions on one /16: the other region is told too',
    mutate: [replace(VIRGINIA, 'cidr: 10.144.0.0/16', 'cidr: 10.136.0.0/16'), replace(VIRGINIA, 'address: 10.144.0.10', 'address: 10.136.0.11')],
    at: { file: JAKARTA, line: 'cidr: 10.136.0.0/16' },
    says: ['us-virginia', 'next free block 10.144.0.0/16'],
  },
  {
    rule: 'cidr/reserved',
    title: 'a region in the reserved Kubernetes range',
    mutate: [replace(VIRGINIA, 'cidr: 10.144.0.0/16', 'cidr: 10.248.0.0/16'), replace(VIRGINIA, 'address: 10.144.0.10', 'address: 10.248.0.10')],
    at: { file: VIRGINIA, line: 'cidr: 10.248.0.0/16' },
    says: ['10.248.0.0/13', 'Kubernetes'],
  },
  {
    rule: 'cidr/growth-reservation',
    title: "a region in the growth room of its neighbour's stride block",
    mutate: [replace(VIRGINIA, 'cidr: 10.144.0.0/16', 'cidr: 10.137.0.0/16'), replace(VIRGINIA, 'address: 10.144.0.10', 'address: 10.137.0.10')],
    at: { file: VIRGINIA, line: 'cidr: 10.137.0.0/16' },
    says: ['ap-jakarta'],
  },
  {
    rule: 'cidr/plan',
    title: 'overlapping area supernets',
    mutate: [replace('policies/address-plan.yaml', 'supernet: 10.128.0.0/9', 'supernet: 10.0.0.0/8')],
    at: { file: 'policies/address-plan.yaml', line: 'supernet: 10.0.0.0/8' },
  },
  {
    rule: 'cidr/plan',
    title: 'a stride that does not divide the supernets',
    mutate: [replace('policies/address-plan.yaml', 'stride: 8', 'stride: 3')],
    at: { file: 'policies/address-plan.yaml', line: 'stride: 3' },
    says: ['power of two'],
  },

  // ---- links/* ----
  {
    rule: 'links/unknown-site',
    title: 'a misspelled site, with the site it probably meant',
    mutate: [replace(JAKARTA, 'to: ap-singapore', 'to: ap-singapor')],
    at: { file: JAKARTA, line: 'to: ap-singapor' },
    says: ['"ap-singapor"', 'ap-singapore'],
  },
  {
    rule: 'links/self',
    title: 'a region linked to itself',
    mutate: [replace(JAKARTA, 'to: ap-singapore', 'to: ap-jakarta')],
    at: { file: JAKARTA, line: 'to: ap-jakarta' },
  },
  {
    rule: 'links/duplicate',
    title: 'the same link twice in one file, at the second',
    mutate: [replace(JAKARTA, 'p2p:', '  - { to: ap-singapore, type: peering, peeringId: peering-2, mtu: 1500, mssClamp: true }\np2p:')],
    at: { file: JAKARTA, line: 'peeringId: peering-2' },
    says: [`${JAKARTA}:`],
  },
  {
    rule: 'links/duplicate',
    title: 'the same link in the hub and in the region, citing the other declaration',
    mutate: [replace(SINGAPORE, 'routes:', 'links:\n  - { to: ap-jakarta, type: peering, peeringId: peering-sg-jkt, mtu: 1500, mssClamp: true }\nroutes:')],
    at: { file: JAKARTA, line: 'to: ap-singapore' },
    says: [`${SINGAPORE}:`],
  },
  {
    rule: 'links/provider-mismatch',
    title: 'VPC peering between AWS and Huawei Cloud',
    mutate: [replace(JAKARTA, 'provider: huaweicloud', 'provider: aws')],
    at: { file: JAKARTA, line: 'type: peering' },
    says: ['vpn-ipsec or wireguard'],
  },
  {
    rule: 'links/type-not-allowed',
    title: 'a link type the link policy does not allow for the providers',
    mutate: [replace('policies/links.yaml', 'types: [cloud-connect, peering, vpn-ipsec, wireguard]', 'types: [cloud-connect, vpn-ipsec, wireguard]')],
    at: { file: JAKARTA, line: 'type: peering' },
    says: ['cloud-connect, vpn-ipsec, wireguard'],
  },
  {
    rule: 'links/mtu',
    title: 'jumbo frames on a WireGuard tunnel',
    mutate: [replace(AMSTERDAM, 'mtu: 1420', 'mtu: 9000')],
    at: { file: AMSTERDAM, line: 'mtu: 9000' },
    says: ['1280..1500'],
  },
  {
    rule: 'links/mss',
    title: 'an MSS that does not fit the MTU, with the largest that does',
    mutate: [replace(VIRGINIA, 'mssClamp: 1360', 'mssClamp: 1400')],
    at: { file: VIRGINIA, line: 'mssClamp: 1400' },
    says: ['1360'],
  },
  {
    rule: 'links/mss',
    title: 'an IPsec VPN without MSS clamping (a warning)',
    mutate: [replace(VIRGINIA, 'mssClamp: 1360', 'mssClamp: false')],
    at: { file: VIRGINIA, line: 'mssClamp: false' },
    severity: 'warning',
    says: ['mssClamp: true'],
  },
  {
    rule: 'links/wireguard-key',
    title: 'a public key that is not 32 bytes of base64',
    mutate: [replace(AMSTERDAM, 'publicKey: NlAq710+0jKE3ZRdjde2DiYYLLz7RhY41Ewq6BSJ+k4=', 'publicKey: abc')],
    at: { file: AMSTERDAM, line: 'publicKey: abc' },
    says: ['wg pubkey'],
  },
  {
    rule: 'links/listen-port',
    title: 'two tunnels on the same port of the Singapore gateway',
    mutate: [replace(HANGZHOU, 'to: cn-beijing', 'to: ap-singapore')],
    at: { file: AMSTERDAM, line: 'listenPort: 51820' },
    says: ['51820', 'cn-hangzhou-idc', HANGZHOU],
  },
  {
    rule: 'links/unknown-gateway',
    title: 'an end on a gateway the site does not have',
    mutate: [replace(VIRGINIA, 'gateway: gw1', 'gateway: gw9')],
    at: { file: VIRGINIA, line: 'gateway: gw9' },
    says: ['"gw9"', 'gw1'],
  },
  {
    rule: 'links/endpoint',
    title: 'a WireGuard link that neither end can dial',
    mutate: [replace(AMSTERDAM, '      endpoint: 198.51.100.40:51821\n', ''), replace(AMSTERDAM, '      endpoint: 203.0.113.20:51820\n', '')],
    at: { file: AMSTERDAM, line: '- to: ap-singapore' },
  },
  {
    rule: 'links/cloud-id',
    title: 'a Cloud Connect instance the sites are not attached to',
    mutate: [replace(SHANGHAI, '    instanceId: cc-small', '    instanceId: cc-other')],
    at: { file: SHANGHAI, line: 'instanceId: cc-other' },
    says: ['cc-small', 'cc-other'],
  },
  {
    rule: 'links/incomplete',
    title: 'a WireGuard end without a public key',
    mutate: [replace(AMSTERDAM, '      publicKey: NlAq710+0jKE3ZRdjde2DiYYLLz7RhY41Ewq6BSJ+k4=\n', '')],
    at: { file: AMSTERDAM, line: 'gateway: gw1' },
    says: ['publicKey', 'wg genkey'],
  },
  {
    rule: 'links/incomplete',
    title: 'an IPsec end in a cloud without a next hop',
    mutate: [replace(VIRGINIA, '      nextHop: vgw-0123456789abcdef0\n', '')],
    at: { file: VIRGINIA, line: 'peerAddress: 198.51.100.30' },
    says: ['nextHop'],
  },

  // ---- routing/* ----
  {
    rule: 'routing/unreachable',
    title: 'a region without a link to its core',
    mutate: [replace(JAKARTA, JAKARTA_LINKS, '')],
    at: { file: JAKARTA, line: 'name: ap-jakarta' },
    says: ['ap-singapore'],
  },
  {
    rule: 'routing/unreachable',
    title: 'two cores without a link between them',
    mutate: [replace(BEIJING, BEIJING_LINKS, '')],
    at: { file: BEIJING, line: 'name: cn-beijing' },
    says: ['ap-singapore'],
  },
  {
    rule: 'routing/no-return',
    title: "a core static route that sends a region's replies elsewhere",
    mutate: [replace(SINGAPORE, 'routes:\n', 'routes:\n  - destination: 10.144.0.0/17\n    via: ap-jakarta\n')],
    at: { file: VIRGINIA, line: '- to: ap-singapore' },
    says: ['ap-singapore', 'ap-jakarta'],
  },
  {
    rule: 'routing/loop',
    title: 'two sites with static routes for one destination via each other',
    mutate: [replace(VIRGINIA, 'mirror:\n', 'routes:\n  - destination: 192.168.100.0/24\n    via: ap-singapore\nmirror:\n')],
    at: { file: VIRGINIA, line: 'via: ap-singapore' },
    says: ['us-virginia -> ap-singapore -> us-virginia'],
  },
  {
    rule: 'routing/self-route',
    title: "a static route to part of the site's own CIDR",
    mutate: [replace(VIRGINIA, 'mirror:\n', 'routes:\n  - destination: 10.144.128.0/17\n    via: ap-singapore\nmirror:\n')],
    at: { file: VIRGINIA, line: 'destination: 10.144.128.0/17' },
  },
  {
    rule: 'routing/static-via',
    title: 'a static route via a site that is not linked',
    mutate: [replace(SINGAPORE, 'via: us-virginia', 'via: cn-shanghai')],
    at: { file: SINGAPORE, line: 'via: cn-shanghai' },
    says: ['cn-shanghai', 'us-virginia'],
  },
  {
    rule: 'routing/p2p',
    title: 'a region that is its own p2p peer',
    mutate: [replace(JAKARTA, 'p2p: [eu-amsterdam-idc]', 'p2p: [ap-jakarta]')],
    at: { file: JAKARTA, line: 'p2p: [ap-jakarta]' },
  },
  {
    rule: 'routing/p2p',
    title: 'a core as p2p peer',
    mutate: [replace(JAKARTA, 'p2p: [eu-amsterdam-idc]', 'p2p: [ap-singapore]')],
    at: { file: JAKARTA, line: 'p2p: [ap-singapore]' },
    says: ['core'],
  },
  {
    rule: 'routing/p2p',
    title: 'a misspelled p2p peer, with the region it probably meant',
    mutate: [replace(JAKARTA, 'p2p: [eu-amsterdam-idc]', 'p2p: [eu-amsterdam]')],
    at: { file: JAKARTA, line: 'p2p: [eu-amsterdam]' },
    says: ['"eu-amsterdam"', 'eu-amsterdam-idc'],
  },
  {
    rule: 'routing/p2p',
    title: 'a cross-area p2p peer while the policy forbids it',
    mutate: [replace(JAKARTA, 'p2p: [eu-amsterdam-idc]', 'p2p: [cn-shanghai]')],
    at: { file: JAKARTA, line: 'p2p: [cn-shanghai]' },
    says: ['cn-shanghai'],
  },
  {
    rule: 'routing/p2p',
    title: 'p2p peers while the policy has regionPeering: off',
    mutate: [replace('policies/routing.yaml', 'regionPeering: opt-in', 'regionPeering: off')],
    at: { file: AMSTERDAM, line: 'p2p: [ap-jakarta]' },
    says: ['regionPeering'],
  },

  // ---- mirror/* ----
  {
    rule: 'mirror/unknown-registry',
    title: 'a Harbor that does not exist',
    mutate: [replace(JAKARTA, 'registries: [harbor-ap-singapore]', 'registries: [harbor-ap-singapor]')],
    at: { file: JAKARTA, line: 'registries: [harbor-ap-singapor]' },
    says: ['"harbor-ap-singapor"', 'harbor-ap-singapore'],
  },
  {
    rule: 'mirror/docker-private-registry',
    title: 'Docker hosts mirroring a private Harbor (registry-mirrors only covers Docker Hub)',
    mutate: [replace(HANGZHOU, 'registries: [docker.io]', 'registries: [harbor-cn-beijing]')],
    at: { file: HANGZHOU, line: 'registries: [harbor-cn-beijing]' },
    says: ['Docker Hub', 'containerd'],
  },
  {
    rule: 'mirror/legacy-proxy-port',
    title: "the old Go client's proxy port",
    mutate: [replace(JAKARTA, 'proxyPort: 4001', 'proxyPort: 65001')],
    at: { file: JAKARTA, line: 'proxyPort: 65001' },
    says: ['4001'],
  },
  {
    rule: 'mirror/location',
    title: 'a location with six levels',
    mutate: [replace(JAKARTA, 'location: overseas|id|jakarta', 'location: overseas|asia|id|java|jakarta|south')],
    at: { file: JAKARTA, line: 'location: overseas|asia' },
    says: ['5'],
  },
  {
    rule: 'mirror/location',
    title: 'a location with an empty level',
    mutate: [replace(JAKARTA, 'location: overseas|id|jakarta', 'location: overseas||jakarta')],
    at: { file: JAKARTA, line: 'location: overseas||jakarta' },
  },
  {
    rule: 'mirror/unreachable',
    title: 'the Dragonfly manager of a core the region has no route to',
    mutate: [replace(JAKARTA, 'manager: http://10.128.1.10:65003', 'manager: http://10.120.1.10:65003')],
    at: { file: JAKARTA, line: 'manager: http://10.120.1.10:65003' },
    says: ['10.120.1.10'],
  },
  {
    rule: 'mirror/unreachable',
    title: 'a Dragonfly manager given by a public host name',
    mutate: [replace(JAKARTA, 'manager: http://10.128.1.10:65003', 'manager: http://dragonfly.example.com:65003')],
    at: { file: JAKARTA, line: 'manager: http://dragonfly.example.com:65003' },
    says: ['private IPv4'],
  },
  {
    rule: 'mirror/unreachable',
    title: "the other area's Harbor without a route to it",
    mutate: [replace(JAKARTA, 'registries: [harbor-ap-singapore]', 'registries: [harbor-cn-beijing]')],
    at: { file: JAKARTA, line: 'registries: [harbor-cn-beijing]' },
    says: ['cn-beijing'],
  },
  {
    rule: 'mirror/cross-area',
    title: "the other area's Harbor, even with a route to it",
    mutate: [
      replace(JAKARTA, 'registries: [harbor-ap-singapore]', 'registries: [harbor-cn-beijing]'),
      replace(JAKARTA, 'p2p:', 'routes:\n  - destination: 10.120.0.0/16\n    via: ap-singapore\np2p:'),
    ],
    at: { file: JAKARTA, line: 'registries: [harbor-cn-beijing]' },
    says: ['between areas'],
  },
  {
    rule: 'mirror/gc',
    title: 'a GC low mark above the high mark',
    mutate: [replace(SHANGHAI, 'diskLowThresholdPercent: 70', 'diskLowThresholdPercent: 90')],
    at: { file: SHANGHAI, line: 'diskLowThresholdPercent: 90' },
    says: ['90', '85'],
  },
  {
    rule: 'mirror/dial-timeout',
    title: 'a dial timeout of zero, which containerd takes as no timeout at all',
    mutate: [replace(JAKARTA, 'dialTimeout: 2s', 'dialTimeout: 0s')],
    at: { file: JAKARTA, line: 'dialTimeout: 0s' },
    says: ['0s', 'no timeout', '2 minutes', "containerd's 30s"],
  },
  {
    rule: 'mirror/dial-timeout',
    title: "a dial timeout longer than Go's time.ParseDuration holds (containerd drops the whole hosts.toml)",
    mutate: [replace(JAKARTA, 'dialTimeout: 2s', 'dialTimeout: 106752d')],
    at: { file: JAKARTA, line: 'dialTimeout: 106752d' },
    says: ['106752d', '2562047h', 'ignores the whole file'],
  },
  {
    rule: 'mirror/dial-timeout',
    title: 'a dial timeout with runtime: docker, where nothing reads it',
    mutate: [replace(HANGZHOU, 'registries: [docker.io]', 'registries: [docker.io]\n  dialTimeout: 2s')],
    at: { file: HANGZHOU, line: 'dialTimeout: 2s' },
    severity: 'warning',
    says: ['runtime: docker', 'daemon.json'],
  },
  {
    rule: 'mirror/gc',
    title: "a GC high mark of 100, which dfdaemon's validator refuses",
    mutate: [replace(SHANGHAI, 'diskHighThresholdPercent: 85', 'diskHighThresholdPercent: 100')],
    at: { file: SHANGHAI, line: 'diskHighThresholdPercent: 100' },
    says: ['from 1 to 99', 'refuses to start'],
  },
  {
    rule: 'mirror/gc',
    title: 'a GC mark that is not a whole number (dfdaemon reads a u8)',
    mutate: [replace(SHANGHAI, 'diskLowThresholdPercent: 70', 'diskLowThresholdPercent: 70.5')],
    at: { file: SHANGHAI, line: 'diskLowThresholdPercent: 70.5' },
    says: ['whole number'],
  },
  {
    rule: 'mirror/gc',
    title: "a GC high mark below dfdaemon's default low mark (60) when the low mark is left out",
    mutate: [replace(SHANGHAI, '\n      diskLowThresholdPercent: 70', ''), replace(SHANGHAI, 'diskHighThresholdPercent: 85', 'diskHighThresholdPercent: 50')],
    at: { file: SHANGHAI, line: 'diskHighThresholdPercent: 50' },
    says: ["(60, dfdaemon's default)", '(50)', 'evicts every cached task'],
  },
  {
    rule: 'mirror/dragonfly-duration',
    title: 'a GC interval of zero (tokio panics, dfdaemon aborts at start)',
    mutate: [replace(SHANGHAI, 'interval: 15m', 'interval: 0s')],
    at: { file: SHANGHAI, line: 'interval: 0s' },
    says: ['tokio::time::interval', 'exits at start'],
  },
  {
    rule: 'mirror/dragonfly-duration',
    title: 'a task TTL of zero (every GC run empties the cache)',
    mutate: [replace(SHANGHAI, 'taskTTL: 6h', 'taskTTL: 0m')],
    at: { file: SHANGHAI, line: 'taskTTL: 0m' },
    says: ['is zero', 'every pull would go to the core'],
  },
  {
    rule: 'mirror/dragonfly-duration',
    title: "a task TTL past chrono's last date (the GC panics)",
    mutate: [replace(SHANGHAI, 'taskTTL: 6h', 'taskTTL: 9999999999999d')],
    at: { file: SHANGHAI, line: 'taskTTL: 9999999999999d' },
    says: ['chrono', '262143'],
  },
  {
    rule: 'mirror/dragonfly-duration',
    title: 'a GC interval humantime cannot hold (dfdaemon refuses the file)',
    mutate: [replace(SHANGHAI, 'interval: 15m', 'interval: 18446744073709551616s')],
    at: { file: SHANGHAI, line: 'interval: 18446744073709551616s' },
    says: ['humantime', 'number is too large'],
  },
  {
    rule: 'mirror/dragonfly-port',
    title: "a proxy port dfdaemon's upload server binds already",
    mutate: [replace(JAKARTA, 'proxyPort: 4001', 'proxyPort: 4000')],
    at: { file: JAKARTA, line: 'proxyPort: 4000' },
    says: ['upload gRPC server', 'dfdaemon exits'],
  },
  {
    rule: 'mirror/dragonfly-manager',
    title: 'an https:// manager while mirrornet writes no manager TLS',
    mutate: [replace(JAKARTA, 'manager: http://10.128.1.10:65003', 'manager: https://10.128.1.10:65003')],
    at: { file: JAKARTA, line: 'manager: https://10.128.1.10:65003' },
    says: ['Connecting to HTTPS without TLS enabled', 'http://<manager>:65003'],
  },
  {
    rule: 'mirror/dragonfly-manager',
    title: 'a manager address without a port (dfdaemon dials 80)',
    mutate: [replace(JAKARTA, 'manager: http://10.128.1.10:65003', 'manager: http://10.128.1.10')],
    at: { file: JAKARTA, line: 'manager: http://10.128.1.10' },
    severity: 'warning',
    says: ['port 80', 'http://10.128.1.10:65003'],
  },

  // ---- harbor/* ----
  {
    rule: 'harbor/unknown-hub',
    title: 'a Harbor on a misspelled hub',
    mutate: [replace(HARBOR_SG, 'hub: ap-singapore', 'hub: ap-singapor')],
    at: { file: HARBOR_SG, line: 'hub: ap-singapor' },
    says: ['"ap-singapor"', 'ap-singapore'],
  },
  {
    rule: 'harbor/unknown-hub',
    title: 'a Harbor on a region',
    mutate: [replace(HARBOR_SG, 'hub: ap-singapore', 'hub: ap-jakarta')],
    at: { file: HARBOR_SG, line: 'hub: ap-jakarta' },
    says: ['is a region'],
  },
  {
    rule: 'harbor/hub-harbor',
    title: 'a core without a Harbor (a warning)',
    mutate: [remove(HARBOR_SG)],
    at: { file: SINGAPORE, line: 'name: ap-singapore' },
  },
  {
    rule: 'harbor/hub-harbor',
    title: 'two Harbors on one core (an error)',
    mutate: [copy(HARBOR_BJ, 'harbor/harbor-cn-beijing-2.yaml', ['name: harbor-cn-beijing\n', 'name: harbor-cn-beijing-2\n'])],
    at: { file: 'harbor/harbor-cn-beijing-2.yaml', line: 'hub: cn-beijing' },
    severity: 'error',
    says: ['harbor-cn-beijing'],
  },
  {
    rule: 'harbor/version',
    title: 'cores on different Harbor versions',
    mutate: [replace(HARBOR_SG, 'version: v2.15.2', 'version: v2.14.0')],
    at: { file: HARBOR_SG, line: 'version: v2.14.0' },
    says: ['v2.15.2'],
  },
  {
    rule: 'harbor/version',
    title: 'cores on v2.9.0 and v2.15.2: the older one is told to upgrade (versions compare as numbers)',
    mutate: [replace(HARBOR_SG, 'version: v2.15.2', 'version: v2.9.0')],
    at: { file: HARBOR_SG, line: 'version: v2.9.0' },
    says: ['v2.15.2'],
  },
  {
    rule: 'harbor/external-url',
    title: 'http:// behind a TLS-terminating load balancer',
    mutate: [replace(HARBOR_BJ, 'externalUrl: https://', 'externalUrl: http://')],
    at: { file: HARBOR_BJ, line: 'externalUrl: http://' },
    says: ['https://'],
  },
  {
    rule: 'harbor/external-url',
    title: 'an external URL on another host than hostname (a warning)',
    mutate: [replace(HARBOR_SG, 'externalUrl: https://harbor.sg.small.internal', 'externalUrl: https://registry.sg.small.internal')],
    at: { file: HARBOR_SG, line: 'externalUrl: https://registry' },
    severity: 'warning',
    says: ['harbor.sg.small.internal'],
  },
  {
    rule: 'harbor/storage',
    title: 'no storage backend',
    mutate: [replace(HARBOR_SG, 'storage:\n  filesystem:\n    rootdirectory: /storage\n', 'storage: {}\n')],
    at: { file: HARBOR_SG, line: 'storage: {}' },
  },
  {
    rule: 'harbor/storage',
    title: 'two storage backends',
    mutate: [replace(HARBOR_BJ, '  redirect:', '  filesystem:\n    rootdirectory: /storage\n  redirect:')],
    at: { file: HARBOR_BJ, line: '  s3:' },
  },
  {
    rule: 'harbor/s3-redirect',
    title: 'S3 storage that redirects clients to the object store',
    mutate: [replace(HARBOR_BJ, '  redirect:\n    disable: true\n', '')],
    at: { file: HARBOR_BJ, line: '  s3:' },
    says: ['redirect'],
  },
  {
    rule: 'harbor/s3-redirect',
    title: 'a Huawei OBS region endpoint (path-style addressing)',
    mutate: [replace(HARBOR_BJ, 'regionendpoint: https://s3.bj.small.internal', 'regionendpoint: https://obs.cn-north-4.myhuaweicloud.com')],
    at: { file: HARBOR_BJ, line: 'regionendpoint: https://obs.' },
    says: ['path-style'],
  },
  {
    rule: 'harbor/s3-chunksize',
    title: 'an S3 chunk size below 5 MiB',
    mutate: [replace(HARBOR_BJ, 'chunksize: 33554432', 'chunksize: 1024')],
    at: { file: HARBOR_BJ, line: 'chunksize: 1024' },
    says: ['5242880'],
  },
  {
    rule: 'harbor/cron',
    title: 'a five-field cron',
    mutate: [replace(HARBOR_BJ, 'cron: "0 0 3 * * *"', 'cron: "0 3 * * *"')],
    at: { file: HARBOR_BJ, line: 'cron: "0 3 * * *"' },
    says: ['6'],
  },
  {
    rule: 'harbor/cron',
    title: 'a cron whose seconds are not 0, with the corrected expression',
    mutate: [replace(HARBOR_BJ, 'cron: "0 0 3 * * *"', 'cron: "30 0 3 * * *"')],
    at: { file: HARBOR_BJ, line: 'cron: "30 0 3 * * *"' },
    says: ['"0 0 3 * * *"'],
  },
  {
    rule: 'harbor/cron',
    title: 'a scheduled trigger without cron',
    mutate: [replace(HARBOR_BJ, '      cron: "0 0 3 * * *"\n', '')],
    at: { file: HARBOR_BJ, line: 'type: scheduled' },
  },
  {
    rule: 'harbor/cron',
    title: 'a cron on an event-based trigger',
    mutate: [replace(HARBOR_BJ, '      type: event_based\n', '      type: event_based\n      cron: "0 0 3 * * *"\n')],
    at: { file: HARBOR_BJ, line: 'cron: "0 0 3 * * *"' },
    says: ['event_based'],
  },
  {
    rule: 'harbor/replication-endpoint',
    title: 'a replication to a Harbor that does not exist',
    mutate: [replace(HARBOR_BJ, '    destination: harbor-ap-singapore\n    filters:', '    destination: harbor-ap-singapor\n    filters:')],
    at: { file: HARBOR_BJ, line: 'destination: harbor-ap-singapor\n' },
    says: ['"harbor-ap-singapor"', 'harbor-ap-singapore'],
  },
  {
    rule: 'harbor/replication-endpoint',
    title: 'a replication from a Harbor to itself',
    mutate: [replace(HARBOR_BJ, '    destination: harbor-ap-singapore\n    filters:', '    destination: harbor-cn-beijing\n    filters:')],
    at: { file: HARBOR_BJ, line: 'destination: harbor-cn-beijing' },
  },
  {
    rule: 'harbor/unknown-endpoint',
    title: 'a proxy-cache project on an undeclared endpoint',
    mutate: [replace(HARBOR_SG, 'endpoint: docker-hub', 'endpoint: dockerhub')],
    at: { file: HARBOR_SG, line: 'endpoint: dockerhub' },
    says: ['"dockerhub"'],
  },
  {
    rule: 'harbor/copy-by-chunk',
    title: 'a cross-region replication without copyByChunk',
    mutate: [replace(HARBOR_BJ, '      type: event_based\n    copyByChunk: true\n', '      type: event_based\n')],
    at: { file: HARBOR_BJ, line: '- name: to-singapore' },
    says: ['copyByChunk: true'],
  },
  {
    rule: 'harbor/duplicate',
    title: 'two projects with one name',
    mutate: [replace(HARBOR_BJ, '  - name: base\n', '  - { name: library, quota: 1Ti }\n  - name: base\n')],
    at: { file: HARBOR_BJ, line: '{ name: library, quota: 1Ti }' },
    says: ['"library"'],
  },
  {
    rule: 'harbor/redis-index',
    title: 'two Harbor components on one Redis database',
    mutate: [replace(HARBOR_SG, 'jobserviceDbIndex: 2', 'jobserviceDbIndex: 1')],
    at: { file: HARBOR_SG, line: 'jobserviceDbIndex: 1' },
    says: ['registryDbIndex'],
  },
  {
    rule: 'harbor/replication-robot',
    title: 'a push replication to a core that has no robot with repository:push',
    mutate: [replace(HARBOR_SG, 'repository:push', 'repository:list')],
    at: { file: HARBOR_BJ, line: 'destination: harbor-ap-singapore' },
    says: ['repository:push'],
  },
  {
    rule: 'harbor/cron',
    title: 'a cron that runs every minute',
    mutate: [replace(HARBOR_BJ, 'cron: "0 0 3 * * *"', 'cron: "0 * 3 * * *"')],
    at: { file: HARBOR_BJ, line: 'cron: "0 * 3 * * *"' },
    says: ['minute'],
  },
  {
    rule: 'harbor/robot-project',
    title: 'a robot granted access to an undeclared project',
    mutate: [replace(HARBOR_SG, '      - project: library', '      - project: librar')],
    at: { file: HARBOR_SG, line: 'project: librar' },
    says: ['"librar"'],
  },

  {
    rule: 'harbor/external-url',
    title: 'an external URL with a path (Harbor serves at the root of its address)',
    mutate: [replace(HARBOR_BJ, 'externalUrl: https://harbor.bj.small.internal', 'externalUrl: https://harbor.bj.small.internal/harbor')],
    at: { file: HARBOR_BJ, line: 'externalUrl: https://harbor.bj.small.internal/harbor' },
    says: ['/harbor', '/service/token'],
  },
  {
    rule: 'harbor/redis-index',
    title: "a component on the Redis database prepare gives another when it is left out (trivy's 5)",
    mutate: [replace(HARBOR_SG, '  jobserviceDbIndex: 2\n', '  jobserviceDbIndex: 2\n  harborDbIndex: 5\n')],
    at: { file: HARBOR_SG, line: 'harborDbIndex: 5' },
    says: ['trivyDbIndex', 'left out'],
  },
  {
    rule: 'harbor/hostname',
    title: 'a hostname prepare refuses',
    mutate: [replace(HARBOR_SG, 'hostname: harbor.sg.small.internal', 'hostname: 127.0.0.1')],
    at: { file: HARBOR_SG, line: 'hostname: 127.0.0.1' },
    says: ['"127.0.0.1 can not be the hostname"'],
  },
  {
    rule: 'harbor/install-paths',
    title: 'a filesystem rootdirectory outside the registry volume',
    mutate: [replace(HARBOR_SG, 'rootdirectory: /storage', 'rootdirectory: /data/registry')],
    at: { file: HARBOR_SG, line: 'rootdirectory: /data/registry' },
    says: ['/storage', 'lost'],
  },
  {
    rule: 'harbor/redis-url',
    title: 'a Redis username without a password',
    mutate: [replace(HARBOR_SG, '  registryDbIndex: 1\n', '  username: harbor-redis\n  registryDbIndex: 1\n')],
    at: { file: HARBOR_SG, line: 'username: harbor-redis' },
    says: ['redis://harbor-redis10.128.2.30:6379/1'],
  },
  {
    rule: 'harbor/database-pool',
    title: 'maxIdleConns 0, which prepare reads as 2',
    mutate: [replace(HARBOR_BJ, '  sslMode: require\n', '  sslMode: require\n  maxIdleConns: 0\n')],
    at: { file: HARBOR_BJ, line: 'maxIdleConns: 0' },
    says: ['writes 2'],
  },
  {
    rule: 'harbor/metric',
    title: 'a metric port core and jobservice already listen on',
    mutate: [replace(HARBOR_BJ, 'projects:\n', 'metrics:\n  enabled: true\n  port: 8080\nprojects:\n')],
    at: { file: HARBOR_BJ, line: 'port: 8080' },
    says: ['8080'],
  },
  {
    rule: 'harbor/storage-verbatim',
    title: 'an S3 rootdirectory that YAML reads differently once prepare copies it unquoted',
    mutate: [replace(HARBOR_BJ, '    chunksize: 33554432\n', "    chunksize: 33554432\n    rootdirectory: '/registry #old'\n")],
    at: { file: HARBOR_BJ, line: 'rootdirectory:' },
    says: ['"/registry"'],
  },
  {
    rule: 'harbor/s3-chunksize',
    title: 'multipartcopymaxconcurrency 1, which prepare writes as true',
    mutate: [replace(HARBOR_BJ, '    chunksize: 33554432\n', '    chunksize: 33554432\n    multipartcopymaxconcurrency: 1\n')],
    at: { file: HARBOR_BJ, line: 'multipartcopymaxconcurrency: 1' },
    says: ['invalid value for multipartcopymaxconcurrency: true'],
  },
  {
    rule: 'harbor/s3-driver',
    title: 'a region the S3 driver does not know, without regionendpoint',
    mutate: [replace(HARBOR_BJ, '    regionendpoint: https://s3.bj.small.internal\n', '')],
    at: { file: HARBOR_BJ, line: 'region: cn-north-4' },
    says: ['invalid region provided', 'regionendpoint'],
  },

  // ---- harbor/* from Harbor 2.15's API checks (model/constraints/harbor-api-checks.ts) ----
  {
    rule: 'harbor/cron',
    title: "a cron with an hour of 25, which Harbor's cron parser refuses",
    mutate: [replace(HARBOR_BJ, 'cron: "0 0 3 * * *"', 'cron: "0 0 25 * * *"')],
    at: { file: HARBOR_BJ, line: 'cron: "0 0 25 * * *"' },
    says: ['Harbor 2.15 rejects', 'invalid cron string for scheduled trigger: 0 0 25 * * *', 'hour 0-23'],
  },
  {
    rule: 'harbor/api-limit',
    title: 'an endpoint name longer than the 64 bytes Harbor takes',
    mutate: [
      replace(HARBOR_SG, '  - name: docker-hub\n', `  - name: ${'d'.repeat(65)}\n`),
      replace(HARBOR_SG, 'endpoint: docker-hub', `endpoint: ${'d'.repeat(65)}`),
    ],
    at: { file: HARBOR_SG, line: `  - name: ${'d'.repeat(65)}` },
    says: ['Harbor 2.15 rejects a registry endpoint name longer than 64 bytes', '65'],
  },
  {
    rule: 'harbor/api-limit',
    title: "a robot description that leaves no room for mirrornet's marker in Harbor's 1024-character column",
    mutate: [replace(HARBOR_SG, '  - name: replication-from-beijing\n', `  - name: replication-from-beijing\n    description: ${'x'.repeat(1000)}\n`)],
    at: { file: HARBOR_SG, line: 'description: xxxx' },
    says: ['1024', 'at most 995'],
  },
  {
    rule: 'harbor/api-limit',
    title: 'a project name longer than the 255 characters Harbor takes',
    mutate: [
      replace(HARBOR_SG, '  - name: library\n', `  - name: ${'l'.repeat(256)}\n`),
      replace(HARBOR_SG, '      - project: library', `      - project: ${'l'.repeat(256)}`),
    ],
    at: { file: HARBOR_SG, line: `  - name: ${'l'.repeat(256)}` },
    says: ['Harbor 2.15 rejects a project name longer than 255 characters'],
  },
  {
    rule: 'harbor/api-limit',
    title: 'a robot name longer than the 255 characters of its column',
    mutate: [replace(HARBOR_SG, '  - name: replication-from-beijing\n', `  - name: ${'r'.repeat(256)}\n`)],
    at: { file: HARBOR_SG, line: `  - name: ${'r'.repeat(256)}` },
    says: ['Harbor 2.15 rejects a robot name longer than 255 characters'],
  },
  {
    rule: 'harbor/api-limit',
    title: 'an access key longer than the 255 characters of its column',
    mutate: [replace(HARBOR_SG, '    url: https://hub.docker.com\n', `    url: https://hub.docker.com\n    accessKey: ${'k'.repeat(256)}\n`)],
    at: { file: HARBOR_SG, line: 'accessKey: kkk' },
    says: ['Harbor 2.15 rejects an access key longer than 255 characters'],
  },
  {
    rule: 'harbor/api-limit',
    title: 'a replication policy name longer than the 256 characters of its column',
    mutate: [replace(HARBOR_BJ, '  - name: to-singapore\n', `  - name: ${'p'.repeat(257)}\n`)],
    at: { file: HARBOR_BJ, line: `  - name: ${'p'.repeat(257)}` },
    says: ['Harbor 2.15 rejects a replication policy name longer than 256 characters'],
  },
  {
    rule: 'harbor/api-limit',
    title: 'a replication speed that does not fit the 32-bit number Harbor decodes',
    mutate: [replace(HARBOR_BJ, '      cron: "0 0 3 * * *"\n', '      cron: "0 0 3 * * *"\n    speedKbps: 3000000000\n')],
    at: { file: HARBOR_BJ, line: 'speedKbps: 3000000000' },
    says: ['32-bit', '2147483647'],
  },
  {
    rule: 'harbor/api-limit',
    title: 'filters longer than the 1024 characters Harbor stores them in',
    mutate: [replace(HARBOR_BJ, '        value: "{library,base}/**"\n', `        value: "library/${'x'.repeat(1000)}"\n`)],
    at: { file: HARBOR_BJ, line: '- type: name' },
    says: ['1024 characters'],
  },
  {
    rule: 'harbor/api-limit',
    title: "a peer whose name makes mirrornet's registry endpoint name longer than 64 bytes",
    mutate: [
      copy(HARBOR_SG, 'harbor/harbor-ap-singapore-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.yaml', [
        'name: harbor-ap-singapore\n',
        'name: harbor-ap-singapore-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n',
      ]),
      replace(
        HARBOR_BJ,
        '    destination: harbor-ap-singapore\n    filters:',
        '    destination: harbor-ap-singapore-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n    filters:',
      ),
    ],
    at: { file: HARBOR_BJ, line: 'destination: harbor-ap-singapore-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' },
    says: ['"mirrornet-harbor-ap-singapore-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" (65 bytes)', 'at most 54 characters'],
  },
  {
    rule: 'harbor/quota',
    title: 'a quota of 0, which Harbor refuses when it sets the quota',
    mutate: [replace(HARBOR_BJ, 'quota: 2Ti', 'quota: 0Gi')],
    at: { file: HARBOR_BJ, line: 'quota: 0Gi' },
    says: ['Harbor 2.15 rejects a storage quota of 0Gi', 'invalid non-positive value for quota limit, value=0', '-1'],
  },
  {
    rule: 'harbor/quota',
    title: 'a quota above 1024 TB',
    mutate: [replace(HARBOR_BJ, 'quota: 2Ti', 'quota: 1025Ti')],
    at: { file: HARBOR_BJ, line: 'quota: 1025Ti' },
    says: ['exceeded 1024TB, which is 1125899906842624 Bytes'],
  },
  {
    rule: 'harbor/robot-duration',
    title: 'a robot that expires after 0 days',
    mutate: [replace(HARBOR_SG, '    secret: env:HARBOR_ROBOT_REPLICATION\n', '    secret: env:HARBOR_ROBOT_REPLICATION\n    duration: 0\n')],
    at: { file: HARBOR_SG, line: 'duration: 0' },
    says: ['Harbor 2.15 rejects a robot duration of 0 days', '-1'],
  },
  {
    rule: 'harbor/robot-access',
    title: "a robot access Harbor's project scope does not have, with the one it probably meant",
    mutate: [replace(HARBOR_SG, 'access: [repository:push, repository:pull]', 'access: [repository:push, repository:pul]')],
    at: { file: HARBOR_SG, line: 'repository:pul]' },
    says: ['Harbor 2.15 rejects the robot permission repository:pul', 'Did you mean repository:pull?'],
  },
  {
    rule: 'harbor/replication-namespace',
    title: 'a destination namespace that is not a repository path',
    mutate: [
      replace(
        HARBOR_BJ,
        '    destination: harbor-ap-singapore\n    filters:',
        '    destination: harbor-ap-singapore\n    destinationNamespace: Mirror\n    filters:',
      ),
    ],
    at: { file: HARBOR_BJ, line: 'destinationNamespace: Mirror' },
    says: ['Harbor 2.15 rejects the destination namespace "Mirror"'],
  },
  {
    rule: 'harbor/replication-filter',
    title: 'a decoration on a name filter',
    mutate: [replace(HARBOR_BJ, '        value: "{library,base}/**"\n', '        value: "{library,base}/**"\n        decoration: excludes\n')],
    at: { file: HARBOR_BJ, line: '- type: name' },
    says: ['Harbor 2.15 rejects this name filter', 'only tag and label filter support decoration'],
  },
  {
    rule: 'harbor/endpoint-url',
    title: 'an endpoint URL with a query string Harbor would drop',
    mutate: [replace(HARBOR_SG, 'url: https://hub.docker.com', 'url: https://hub.docker.com/?ns=library')],
    at: { file: HARBOR_SG, line: 'url: https://hub.docker.com/?ns=library' },
    says: ['it would store https://hub.docker.com', '?ns=library'],
  },
  {
    rule: 'harbor/event-trigger',
    title: 'an event-based trigger on a pull rule, which Harbor never fires (a warning)',
    mutate: [
      write(
        HARBOR_SG,
        `${textOf(BASE, HARBOR_SG)}replication:\n  - name: from-beijing\n    source: harbor-cn-beijing\n    destination: harbor-ap-singapore\n` +
          '    trigger:\n      type: event_based\n    copyByChunk: true\n',
      ),
    ],
    at: { file: HARBOR_SG, line: 'type: event_based' },
    says: ['only for policies whose source is the local Harbor (push)', 'harbor/harbor-cn-beijing.yaml'],
  },

  // ---- cloud/* (Huawei Cloud route tables: model/constraints/huaweicloud-vpc.ts) ----
  {
    rule: 'cloud/route-quota',
    title: 'more route tables than a Huawei Cloud VPC has by default (a warning)',
    mutate: [replace(SHANGHAI, 'routeTables: [rtb-sh-0001]', 'routeTables: [rtb-sh-0001, rtb-sh-0002, rtb-sh-0003, rtb-sh-0004, rtb-sh-0005, rtb-sh-0006]')],
    at: { file: SHANGHAI, line: 'routeTables: [rtb-sh-0001, rtb-sh-0002' },
    says: ['6 route tables', 'at most 5'],
  },
  {
    rule: 'cloud/next-hop',
    title: 'an ECS next hop without its source/destination check recorded as off (a warning)',
    mutate: [
      replace(
        AMSTERDAM,
        '      privateKey: file:/etc/mirrornet/wireguard/ap-singapore-gw1.key\n',
        '      privateKey: file:/etc/mirrornet/wireguard/ap-singapore-gw1.key\n      nextHop: ecs-sg-gw1-2b8d4e60\n',
      ),
    ],
    at: { file: AMSTERDAM, line: 'nextHop: ecs-sg-gw1-2b8d4e60' },
    says: ['allowed_address_pairs 1.1.1.1/0', 'sourceDestCheck: false'],
  },
  {
    rule: 'cloud/next-hop',
    title: "a VPN next hop that is not the VPC's VPN gateway (a warning)",
    mutate: [replace(VIRGINIA, 'nextHop: vpngw-sg-0001', 'nextHop: vpngw-sg-0002')],
    at: { file: VIRGINIA, line: 'nextHop: vpngw-sg-0002' },
    says: ['vpngw-sg-0001'],
  },

  // ---- notifications/* (policies/notifications.yaml is not in the fixture: each case writes NOTIFY, then breaks it) ----
  {
    rule: 'notifications/unknown-channel',
    title: 'a route naming a misspelled channel, with the channel it probably meant',
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, 'channels: [network-cn]', 'channels: [network-cm]')],
    at: { file: NOTIFICATIONS, line: 'channels: [network-cm]' },
    says: ['"network-cm"', 'Did you mean "network-cn"?'],
  },
  {
    rule: 'notifications/unknown-site',
    title: 'a route matching a site that does not exist',
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, 'regions: [cn-shanghai]', 'regions: [cn-shangai]')],
    at: { file: NOTIFICATIONS, line: 'regions: [cn-shangai]' },
    says: ['"cn-shangai"', 'Did you mean "cn-shanghai"?'],
  },
  {
    rule: 'notifications/unused-channel',
    title: 'a channel no route sends to',
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, 'channels: [audit]', 'channels: [network-cn]')],
    at: { file: NOTIFICATIONS, line: 'name: audit' },
    says: ['audit'],
  },
  {
    rule: 'notifications/duplicate-channel',
    title: 'two channels with one name, at the second',
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, 'name: registry', 'name: oncall')],
    at: { file: NOTIFICATIONS, line: 'name: oncall\n    type: wecom' },
    says: ['"oncall"', 'twice'],
  },
  {
    rule: 'notifications/missing-secret',
    title: 'a DingTalk robot without its signing secret',
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, '    secret: env:MN_DINGTALK_SECRET\n', '')],
    at: { file: NOTIFICATIONS, line: 'name: oncall' },
    says: ['加签', 'SEC'],
  },
  {
    rule: 'notifications/missing-secret',
    title: 'a Feishu bot without its signing secret',
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, '    secret: env:MN_FEISHU_SECRET\n', '')],
    at: { file: NOTIFICATIONS, line: 'name: network-cn' },
    says: ['签名校验'],
  },
  {
    rule: 'notifications/missing-secret',
    title: 'a generic webhook that would go out unsigned',
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, '    secret: env:MN_AUDIT_SECRET\n', '')],
    at: { file: NOTIFICATIONS, line: 'name: audit' },
    says: ['X-Mirrornet-Signature-256'],
  },
  {
    rule: 'notifications/unused-secret',
    title: 'a signing secret on a WeCom robot, which is never signed',
    mutate: [
      write(NOTIFICATIONS, NOTIFY),
      replace(NOTIFICATIONS, '    url: env:MN_WECOM_URL\n', '    url: env:MN_WECOM_URL\n    secret: env:MN_WECOM_SECRET\n'),
    ],
    at: { file: NOTIFICATIONS, line: 'secret: env:MN_WECOM_SECRET' },
    says: ['never used'],
  },
  {
    rule: 'notifications/rate-limit',
    title: "a DingTalk rate limit above DingTalk's 20 per minute",
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, 'perMinute: 20', 'perMinute: 60')],
    at: { file: NOTIFICATIONS, line: 'perMinute: 60' },
    says: ['20 messages per minute', 'DingTalk'],
  },
  {
    rule: 'notifications/unknown-site',
    title: 'a route excluding a site that does not exist (exclude.sites)',
    mutate: [write(NOTIFICATIONS, NOTIFY), replace(NOTIFICATIONS, '      areas: [cn]\n', '      areas: [cn]\n    exclude:\n      sites: [cn-hangzou-idc]\n')],
    at: { file: NOTIFICATIONS, line: 'sites: [cn-hangzou-idc]' },
    says: ['exclude.sites', 'Did you mean "cn-hangzhou-idc"?'],
  },
  {
    rule: 'notifications/unknown-route',
    title: 'a mute window naming a route that no route is named',
    mutate: [write(NOTIFICATIONS, `${NOTIFY}${MUTE}`), replace(NOTIFICATIONS, '    routes: [cn-oncall]', '    routes: [cn-oncal]')],
    at: { file: NOTIFICATIONS, line: 'routes: [cn-oncal]' },
    says: ['"cn-oncal"', 'Did you mean "cn-oncall"?'],
  },
  {
    rule: 'notifications/unknown-channel',
    title: 'a mute window naming a channel that does not exist',
    mutate: [write(NOTIFICATIONS, `${NOTIFY}${MUTE}`), replace(NOTIFICATIONS, '    routes: [cn-oncall]', '    channels: [oncal]')],
    at: { file: NOTIFICATIONS, line: 'channels: [oncal]' },
    says: ['"oncal"', 'Did you mean "oncall"?'],
  },
  {
    rule: 'notifications/duplicate-route',
    title: 'two routes with one name, at the second',
    mutate: [write(NOTIFICATIONS, `${NOTIFY}${MUTE}`), replace(NOTIFICATIONS, '  - channels: [audit]', '  - name: cn-oncall\n    channels: [audit]')],
    at: { file: NOTIFICATIONS, line: 'name: cn-oncall\n    channels: [audit]' },
    says: ['"cn-oncall"'],
  },
  {
    rule: 'notifications/mute-window',
    title: 'a mute window with a six-field (seconds) cron schedule',
    mutate: [write(NOTIFICATIONS, `${NOTIFY}${MUTE}`), replace(NOTIFICATIONS, 'schedule: 0 2 * * 6', 'schedule: 0 0 2 * * 6')],
    at: { file: NOTIFICATIONS, line: 'schedule: 0 0 2 * * 6' },
    says: ['five fields'],
  },
  {
    rule: 'notifications/mute-window',
    title: 'a mute window in a time zone that does not exist',
    mutate: [write(NOTIFICATIONS, `${NOTIFY}${MUTE}`), replace(NOTIFICATIONS, 'timeZone: Asia/Shanghai', 'timeZone: China/Beijing')],
    at: { file: NOTIFICATIONS, line: 'timeZone: China/Beijing' },
    says: ['"China/Beijing"', 'IANA'],
  },
  {
    rule: 'notifications/mute-window',
    title: 'a mute window longer than 31 days',
    mutate: [write(NOTIFICATIONS, `${NOTIFY}${MUTE}`), replace(NOTIFICATIONS, 'duration: 2h', 'duration: 60d')],
    at: { file: NOTIFICATIONS, line: 'duration: 60d' },
    says: ['1m to 31d'],
  },
  {
    rule: 'notifications/mention-unsupported',
    title: 'a WeCom channel mentioning by mobile, which WeCom markdown cannot',
    mutate: [
      write(NOTIFICATIONS, NOTIFY),
      replace(NOTIFICATIONS, '    url: env:MN_WECOM_URL\n', '    url: env:MN_WECOM_URL\n    mentions:\n      mobiles: ["13800000000"]\n'),
    ],
    at: { file: NOTIFICATIONS, line: 'mobiles: ["13800000000"]' },
    says: ['<@userid>', 'left out'],
  },
  {
    rule: 'notifications/mention-unsupported',
    title: 'a route mentioning the same ids on DingTalk and WeCom channels',
    mutate: [
      write(NOTIFICATIONS, NOTIFY),
      replace(NOTIFICATIONS, '    channels: [oncall, registry]\n', '    channels: [oncall, registry]\n    mentions:\n      users: [netops]\n'),
    ],
    at: { file: NOTIFICATIONS, line: 'mentions:\n      users: [netops]' },
    says: ['dingtalk and wecom', 'one vendor'],
  },
  {
    rule: 'notifications/link-template',
    title: 'a commit link template without {revision}',
    mutate: [write(NOTIFICATIONS, `${NOTIFY}links:\n  commit: https://github.com/example/fleet/commit/{sha}\n`)],
    at: { file: NOTIFICATIONS, line: 'commit: https://github.com/example/fleet/commit/{sha}' },
    says: ['{sha}'],
  },
  // ---- guardrails/* ----
  {
    rule: 'guardrails/acknowledged-exists',
    title: 'an acknowledgement of removals that names a region still in the fleet',
    mutate: [write(ACKNOWLEDGED, `${ACK_HEAD}  - sites: [ap-jakarta]\n    reason: moving to Singapore\n`)],
    at: { file: ACKNOWLEDGED, line: 'sites: [ap-jakarta]', column: 13 },
    says: ['ap-jakarta is acknowledged as removed', 'regions/ap-jakarta.yaml still defines it'],
  },
  {
    rule: 'guardrails/acknowledged-exists',
    title: 'an acknowledgement of removals that names a link still declared (the two sites in either order)',
    mutate: [write(ACKNOWLEDGED, `${ACK_HEAD}  - links: [[cn-beijing, cn-shanghai]]\n    reason: Shanghai goes over the internet\n`)],
    at: { file: ACKNOWLEDGED, line: 'links: [[cn-beijing' },
    says: ['The link cn-beijing — cn-shanghai is acknowledged as removed'],
  },
  // ---- compatibility/* ----
  {
    rule: 'compatibility/location',
    title: 'the agent compatibility declaration in another file than policies/agent.yaml (agents would not read it)',
    mutate: [write('policies/versions.yaml', `${HEADER('agent-compatibility')}kind: AgentCompatibility\nname: versions\nminAgentVersion: 0.2.0\n`)],
    at: { file: 'policies/versions.yaml', line: 'kind: AgentCompatibility', column: 7 },
    says: ['is read from policies/agent.yaml only', 'move it there from policies/versions.yaml'],
  },
  // ---- rollout/* ----
  {
    rule: 'rollout/unknown-site',
    title: 'a wave naming a site the fleet does not have (a typo)',
    mutate: [write(ROLLOUT, ROLLOUT_POLICY.replace('sites: [cn-hangzhou-idc]', 'sites: [cn-hangzou-idc]'))],
    at: { file: ROLLOUT, line: 'sites: [cn-hangzou-idc]', column: 13 },
    says: ['"cn-hangzou-idc"', 'did you mean "cn-hangzhou-idc"'],
  },
  {
    rule: 'rollout/site-wave',
    title: 'a region that no wave names or matches',
    mutate: [write(ROLLOUT, ROLLOUT_POLICY.replace('areas: [overseas]', 'areas: [overseas]\n      providers: [huaweicloud]'))],
    at: { file: ROLLOUT, line: '- name: canary' },
    says: ['eu-amsterdam-idc is in no wave'],
  },
  {
    rule: 'rollout/site-wave',
    title: 'a site named by two waves',
    mutate: [write(ROLLOUT, ROLLOUT_POLICY.replace('  - name: overseas\n', '  - name: overseas\n    sites: [cn-hangzhou-idc]\n'))],
    at: { file: ROLLOUT, line: 'sites: [cn-hangzhou-idc]\n    match:\n      areas: [overseas]' },
    says: ['cn-hangzhou-idc is named by the waves canary and overseas'],
  },
  {
    rule: 'rollout/wave',
    title: 'two waves with one name',
    mutate: [write(ROLLOUT, ROLLOUT_POLICY.replace('- name: overseas', '- name: china'))],
    at: { file: ROLLOUT, line: '- name: china\n    match:\n      areas: [overseas]' },
    says: ['Two waves are named china'],
  },
  {
    rule: 'rollout/window',
    title: 'a change window with a four-field cron schedule',
    mutate: [write(ROLLOUT, ROLLOUT_POLICY.replace('schedule: 0 10 * * 1-5', 'schedule: 0 10 * *'))],
    at: { file: ROLLOUT, line: 'schedule: 0 10 * *' },
    says: ['five fields'],
  },
  {
    rule: 'rollout/window',
    title: 'a change window in a time zone that does not exist',
    mutate: [write(ROLLOUT, ROLLOUT_POLICY.replace('timeZone: Asia/Shanghai', 'timeZone: Asia/Beijing'))],
    at: { file: ROLLOUT, line: 'timeZone: Asia/Beijing' },
    says: ['"Asia/Beijing"', 'IANA'],
  },
  {
    rule: 'rollout/window',
    title: 'a change window of zero length',
    mutate: [write(ROLLOUT, ROLLOUT_POLICY.replace('duration: 7h', 'duration: 0s'))],
    at: { file: ROLLOUT, line: 'duration: 0s' },
    says: ['The change window cn-day has duration 0s: it would never open.'],
  },
  {
    rule: 'rollout/empty-wave',
    title: 'a wave whose match selects no site',
    mutate: [
      write(ROLLOUT, ROLLOUT_POLICY.replace('  - name: china\n', '  - name: aws-cn\n    match:\n      areas: [cn]\n      providers: [aws]\n  - name: china\n')),
    ],
    at: { file: ROLLOUT, line: '- name: aws-cn' },
    says: ['The wave aws-cn has no site: its match selects none that an earlier wave does not take.'],
  },
];

// ---- Cases that compare a change with its base (`validate --base`) ---------------------------------

interface BaseCase extends Case {
  /** Edits of the base (default: the fixture as it is). */
  base?: Mutation[];
}

const GUARDRAILS = 'policies/guardrails.yaml';
/** Three regions gone (the Amsterdam region keeps no p2p peer that is gone). */
const THREE_REGIONS_GONE = [remove(SHANGHAI), remove(HANGZHOU), remove(JAKARTA), replace(AMSTERDAM, 'p2p: [ap-jakarta]', 'p2p: []')];

const BASE_CASES: BaseCase[] = [
  {
    rule: 'guardrails/fleet-removal',
    title: 'three regions removed in one change, more than the default maxSiteRemovals (2) of the base',
    mutate: THREE_REGIONS_GONE,
    at: { file: GUARDRAILS, line: 'kind: Guardrails' },
    says: [
      'removes 3 sites (ap-jakarta, cn-hangzhou-idc, cn-shanghai)',
      'maxSiteRemovals: 2 in policies/guardrails.yaml of the revision before it',
      '`lifecycle: retiring`',
      'policies/acknowledged-removals.yaml',
    ],
  },
  {
    rule: 'guardrails/fleet-removal',
    title: 'every region removed by a change that raises maxSiteRemovals to 100 itself: the base limit still applies',
    mutate: [
      ...[JAKARTA, HANGZHOU, SHANGHAI, AMSTERDAM, VIRGINIA].map(remove),
      replace(
        SINGAPORE,
        'routes:\n  - destination: 192.168.100.0/24\n    via: us-virginia\n    description: a partner VPC peered behind the Virginia region\n',
        '',
      ),
      replace(GUARDRAILS, 'maxDeletionsPerApply: 20\n', 'maxDeletionsPerApply: 20\nmaxSiteRemovals: 100\n'),
    ],
    at: { file: GUARDRAILS, line: 'maxSiteRemovals: 100' },
    says: ['removes every region (ap-jakarta, cn-hangzhou-idc, cn-shanghai, eu-amsterdam-idc, us-virginia)', 'maxSiteRemovals: 2 in'],
  },
  {
    rule: 'guardrails/fleet-removal',
    title: 'one region removed where the base allows no link removal (maxLinkRemovals: 0): its link counts',
    base: [replace(GUARDRAILS, 'maxDeletionsPerApply: 20\n', 'maxDeletionsPerApply: 20\nmaxLinkRemovals: 0\n')],
    mutate: [remove(SHANGHAI)],
    at: { file: GUARDRAILS, line: 'maxLinkRemovals: 0' },
    says: ['removes 1 link (cn-beijing--cn-shanghai)', 'maxLinkRemovals: 0'],
  },
  {
    rule: 'guardrails/not-retired',
    title: 'a region deleted that was not retiring at the base',
    mutate: [remove(SHANGHAI)],
    at: { file: SHANGHAI, line: 1 },
    says: [
      'regions/cn-shanghai.yaml is deleted, but cn-shanghai was not retiring at the base',
      'Mark it `lifecycle: retiring` first, merge, wait for its agents to report retired',
      'then delete the file',
    ],
  },
  {
    rule: 'guardrails/changed',
    title: 'a raised maxDeletionsPerApply: it takes effect one revision after this one',
    mutate: [replace(GUARDRAILS, 'maxDeletionsPerApply: 20', 'maxDeletionsPerApply: 50')],
    at: { file: GUARDRAILS, line: 'maxDeletionsPerApply: 50' },
    says: ['maxDeletionsPerApply: 20 → 50', 'take effect one revision after this one is applied'],
  },
];

// ---- Files the loader rejects: reported once, not again as dangling references elsewhere ----------

interface QuietCase {
  title: string;
  mutate: Mutation[];
  /** The only findings of the report, as rule and file. */
  only: { rule: string; file: string }[];
}

const QUIET_CASES: QuietCase[] = [
  {
    title: 'a region with a YAML syntax error is not also "no region" in its p2p peer',
    mutate: [replace(JAKARTA, 'cidr: 10.136.0.0/16', 'cidr: [10.136.0.0/16')],
    only: [{ rule: 'yaml/syntax', file: JAKARTA }],
  },
  {
    title: 'a region that is not UTF-8 is not also "no region" in its p2p peer',
    mutate: [(files) => files.set(JAKARTA, Buffer.concat([Buffer.from(textOf(files, JAKARTA)), Buffer.from([0xe9, 0x0a])]))],
    only: [{ rule: 'file/encoding', file: JAKARTA }],
  },
  {
    title: 'a region with two documents is not also "no region" in its p2p peer',
    mutate: [replace(JAKARTA, 'kind: Region\n', 'kind: Region\n---\nkind: Region\n')],
    only: [{ rule: 'yaml/multiple-documents', file: JAKARTA }],
  },
  {
    title: 'a region with a misspelled kind is not also "no region" in its p2p peer',
    mutate: [replace(JAKARTA, 'kind: Region', 'kind: Regoin')],
    only: [{ rule: 'schema/unknown-kind', file: JAKARTA }],
  },
  {
    title: 'a region in the wrong directory is not also "no region" in its p2p peer',
    mutate: [copy(JAKARTA, 'hubs/ap-jakarta.yaml'), remove(JAKARTA)],
    only: [{ rule: 'schema/wrong-directory', file: 'hubs/ap-jakarta.yaml' }],
  },
  {
    title: 'a Harbor with a YAML syntax error is not also an unknown registry, replication endpoint or missing Harbor',
    mutate: [replace(HARBOR_SG, 'hub: ap-singapore', 'hub: [ap-singapore')],
    only: [{ rule: 'yaml/syntax', file: HARBOR_SG }],
  },
  {
    title: 'an address plan with a YAML syntax error is not also a missing address plan',
    mutate: [replace('policies/address-plan.yaml', 'stride: 8', 'stride: [8')],
    only: [{ rule: 'yaml/syntax', file: 'policies/address-plan.yaml' }],
  },
  {
    title: 'an empty routing policy file is not also a missing routing policy',
    mutate: [write('policies/routing.yaml', '')],
    only: [{ rule: 'file/empty', file: 'policies/routing.yaml' }],
  },
];

// ---- Running a case ------------------------------------------------------------------------------

function lineOf(content: string | Buffer | undefined, needle: string, file: string): number {
  if (typeof content !== 'string') throw new Error(`test bug: cannot look for ${JSON.stringify(needle)} in ${file}`);
  const at = content.indexOf(needle);
  if (at < 0) throw new Error(`test bug: ${JSON.stringify(needle)} is not in the mutated ${file}`);
  return content.slice(0, at).split('\n').length;
}

function show(findings: readonly Finding[]): string {
  return findings.map((f) => `  ${f.file}:${f.line}:${f.column} ${f.severity} ${f.rule}: ${f.message}`).join('\n') || '  (none)';
}

function all(report: Report): Finding[] {
  return [...report.errors, ...report.warnings];
}

interface Expectation {
  rule: string;
  file: string;
  line: number | string;
  column?: number;
  severity?: Severity;
  says?: (string | RegExp)[];
  neverSays?: string[];
}

/** Assert that the report has the expected finding; `contents` resolves line needles. */
function assertFinding(findings: readonly Finding[], expected: Expectation, contents: (file: string) => string | Buffer | undefined): void {
  const registered = RULES.get(expected.rule);
  assert.ok(registered, `the case names an unregistered rule ${expected.rule}`);
  const severity = expected.severity ?? registered.severity;
  const line = typeof expected.line === 'number' ? expected.line : lineOf(contents(expected.file), expected.line, expected.file);
  const here = findings.filter(
    (f) => f.rule === expected.rule && f.file === expected.file && f.line === line && (expected.column === undefined || f.column === expected.column),
  );
  const where = `${expected.file}:${line}${expected.column === undefined ? '' : `:${expected.column}`}`;
  assert.ok(here.length > 0, `expected ${expected.rule} at ${where}; the report has:\n${show(findings)}`);
  const right = here.filter((f) => f.severity === severity);
  assert.ok(right.length > 0, `expected ${expected.rule} at ${where} as ${severity}; got:\n${show(here)}`);
  const says = expected.says ?? [];
  const helpful = right.filter((f) => says.every((s) => (typeof s === 'string' ? f.message.includes(s) : s.test(f.message))));
  assert.ok(helpful.length > 0, `expected the ${expected.rule} message at ${where} to mention ${says.map(String).join(' and ')}; got:\n${show(right)}`);
  for (const secret of expected.neverSays ?? []) {
    const leaks = findings.filter((f) => f.message.includes(secret));
    assert.deepEqual(leaks, [], `no finding may repeat ${JSON.stringify(secret)}`);
  }
}

function runBaseCase(c: BaseCase): void {
  const base: FileSet = new Map(BASE);
  for (const m of c.base ?? []) m(base);
  const head: FileSet = new Map(base);
  for (const m of c.mutate) m(head);
  const report = validateFiles(toVirtual(head));
  assert.deepEqual(report.errors, [], 'the change is valid on its own');
  const findings = compareWithBase(report, validateFiles(toVirtual(base)).fleet);
  assertFinding(findings, { rule: c.rule, ...c.at, severity: c.severity, says: c.says }, (f) => head.get(f));
}

function runCase(c: Case): void {
  const files: FileSet = new Map(BASE);
  for (const m of c.mutate) m(files);
  const report = validateFiles(toVirtual(files));
  assertFinding(all(report), { rule: c.rule, ...c.at, severity: c.severity, says: c.says, neverSays: c.neverSays }, (f) => files.get(f));
}

// ---- Cases that need a real file system ----------------------------------------------------------

interface FsCase {
  rule: string;
  title: string;
  /** Set up the broken repository in `root` (a copy of the fixture); `outside` is a directory outside it. */
  setup: (root: string, outside: string) => void;
  at: { file: string; line: number };
  says?: string[];
  /** Run the validator as an unprivileged user (root reads mode-000 files). */
  unprivileged?: boolean;
}

const FS_CASES: FsCase[] = [
  {
    rule: 'file/symlink',
    title: 'a symlink that points outside the repository',
    setup: (root, outside) => {
      writeFileSync(join(outside, 'ap-bali.yaml'), readFileSync(join(root, JAKARTA), 'utf8').replace('name: ap-jakarta', 'name: ap-bali'));
      symlinkSync(join(outside, 'ap-bali.yaml'), join(root, 'regions/ap-bali.yaml'));
    },
    at: { file: 'regions/ap-bali.yaml', line: 1 },
    says: ['outside the repository'],
  },
  {
    rule: 'file/symlink',
    title: 'a symlink that points nowhere',
    setup: (root) => symlinkSync(join(root, 'regions/does-not-exist.yaml'), join(root, 'regions/ap-bali.yaml')),
    at: { file: 'regions/ap-bali.yaml', line: 1 },
    says: ['points nowhere'],
  },
  {
    rule: 'file/too-large',
    title: 'a file on disk over 1 MiB',
    setup: (root) => writeFileSync(join(root, 'regions/huge.yaml'), `${HEADER('region')}description: "${'x'.repeat(MIB)}"\n`),
    at: { file: 'regions/huge.yaml', line: 1 },
    says: ['1 MiB'],
  },
  {
    rule: 'file/unreadable',
    title: 'a file with mode 000',
    setup: (root) => chmodSync(join(root, JAKARTA), 0o000),
    at: { file: JAKARTA, line: 1 },
    says: ['permissions'],
    unprivileged: true,
  },
];

const NOBODY = 65534;

/** validateRepo's findings from a child process running as `nobody`, for what root's privileges would hide. */
function findingsAsNobody(root: string): { findings?: Finding[]; skip?: string } {
  const script = `const { validateRepo } = await import(${JSON.stringify(VALIDATE_MODULE)});
const r = validateRepo(${JSON.stringify(root)});
process.stdout.write(JSON.stringify([...r.errors, ...r.warnings]));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
  if (child.error) return { skip: `cannot run a child process as uid ${NOBODY}: ${child.error.message}` };
  if (child.status !== 0) throw new Error(`validate as uid ${NOBODY} failed: ${child.stderr}`);
  return { findings: JSON.parse(child.stdout) as Finding[] };
}

// ---- The tests -----------------------------------------------------------------------------------

describe('validator rules: a passing and a failing fixture for every rule', () => {
  describe('the passing fixture (fleet-small)', () => {
    it('has no finding at all, read from memory', () => {
      const report = validateFiles(toVirtual(BASE));
      assert.deepEqual(all(report), []);
      assert.equal(report.valid, true);
    });

    it('has no finding at all, read from disk', () => {
      const report = validateRepo(FIXTURE);
      assert.deepEqual(all(report), []);
    });

    it('exercises what the rules check: every link type, p2p, static routes, both runtimes, S3, replication, robots, proxy cache', () => {
      const { fleet } = validateFiles(toVirtual(BASE));
      assert.deepEqual(new Set(fleet.links.map((l) => l.link.type)), new Set(['cloud-connect', 'peering', 'vpn-ipsec', 'wireguard']));
      assert.equal(fleet.hubs.size, 2);
      const regions = [...fleet.regions.values()].map((r) => r.value);
      assert.ok(
        regions.some((r) => r.p2p.length > 0),
        'a region with p2p peers',
      );
      assert.deepEqual(new Set(regions.map((r) => r.mirror.runtime)), new Set(['containerd', 'docker']));
      assert.ok(
        [...fleet.sites.values()].some((s) => s.value.routes.length > 0),
        'a site with static routes',
      );
      const harbors = [...fleet.harbors.values()].map((h) => h.value);
      assert.ok(
        harbors.some((h) => h.storage.s3),
        'a Harbor on S3',
      );
      assert.ok(
        harbors.some((h) => h.storage.filesystem),
        'a Harbor on a filesystem',
      );
      assert.ok(
        harbors.some((h) => h.replication.length > 0),
        'replication rules',
      );
      assert.ok(
        harbors.some((h) => h.robots.length > 0),
        'robots',
      );
      assert.ok(
        harbors.some((h) => h.projects.some((p) => p.proxyCache)),
        'a proxy-cache project',
      );
    });

    it('keeps a symlink that stays inside the repository', function () {
      const root = mkdtempSync(join(tmpdir(), 'mirrornet-rules-'));
      try {
        cpSync(FIXTURE, root, { recursive: true });
        mkdirSync(join(root, 'shared'));
        writeFileSync(join(root, 'shared/ap-jakarta.yaml'), readFileSync(join(root, JAKARTA)));
        unlinkSync(join(root, JAKARTA));
        symlinkSync('../shared/ap-jakarta.yaml', join(root, JAKARTA));
        const report = validateRepo(root);
        assert.deepEqual(all(report), []);
        assert.equal(report.fleet.regions.has('ap-jakarta'), true);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  });

  describe('failing fixtures (in memory)', () => {
    for (const c of CASES) {
      it(`${c.rule}: reports ${c.title}`, () => runCase(c));
    }
  });

  describe('failing fixtures compared with a base (validate --base)', () => {
    for (const c of BASE_CASES) {
      it(`${c.rule}: reports ${c.title}`, () => runBaseCase(c));
    }
  });

  describe('failing fixtures (on disk)', () => {
    for (const c of FS_CASES) {
      it(`${c.rule}: reports ${c.title}`, function () {
        const root = mkdtempSync(join(tmpdir(), 'mirrornet-rules-'));
        const outside = mkdtempSync(join(tmpdir(), 'mirrornet-outside-'));
        try {
          cpSync(FIXTURE, root, { recursive: true });
          let findings: Finding[];
          if (c.unprivileged && process.getuid?.() === 0) {
            // root reads mode-000 files: validate as an unprivileged user instead of skipping.
            chmodSync(root, 0o755);
            c.setup(root, outside);
            const run = findingsAsNobody(root);
            need(this, run.skip);
            findings = run.findings ?? [];
          } else {
            c.setup(root, outside);
            findings = all(validateRepo(root));
          }
          assertFinding(findings, { rule: c.rule, ...c.at, says: c.says }, () => undefined);
        } finally {
          rmSync(root, { recursive: true, force: true });
          rmSync(outside, { recursive: true, force: true });
        }
      });
    }
  });

  describe('a file the loader rejects is reported once', () => {
    for (const c of QUIET_CASES) {
      it(c.title, () => {
        const files: FileSet = new Map(BASE);
        for (const m of c.mutate) m(files);
        const findings = all(validateFiles(toVirtual(files)));
        const got = [...new Set(findings.map((f) => `${f.rule} ${f.file}`))].sort();
        const want = c.only.map((o) => `${o.rule} ${o.file}`).sort();
        assert.deepEqual(got, want, `the report has:\n${show(findings)}`);
      });
    }
  });

  describe('coverage', () => {
    it('has a failing case for every registered rule', () => {
      const covered = new Set([...CASES, ...FS_CASES, ...BASE_CASES].map((c) => c.rule));
      const missing = [...RULES.keys()].filter((id) => !covered.has(id));
      assert.deepEqual(missing, [], `rules without a failing case in agent/test/policy/rules.test.ts: ${missing.join(', ')}`);
    });

    it('names only registered rules', () => {
      const unknown = [...CASES, ...FS_CASES, ...BASE_CASES].map((c) => c.rule).filter((id) => !RULES.has(id));
      assert.deepEqual(unknown, []);
    });
  });
});
