// `mirrornet region add` under hostile input: it writes only inside the repository (no symlinked regions/ or
// target file is followed out of it, nothing is overwritten), a command-line value cannot add keys to the
// file, and a region file that does not validate still holds its block.
import assert from 'node:assert/strict';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { cli } from '../support/cli.js';
import { validateRepo } from '../../src/policy/validate.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const MODEL_DIRS = ['hubs', 'regions', 'harbor', 'policies'] as const;
const FRANKFURT = ['region', 'add', 'eu-frankfurt', '--area', 'overseas', '--provider', 'aws', '--cloud-region', 'eu-central-1'];

/** Every path under a directory, with the content of each file: what "nothing was written" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(dir, entry);
    const st = lstatSync(path);
    out[entry] = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : readFileSync(path, 'utf8');
  }
  return out;
}

function cidrOf(path: string): unknown {
  const region: unknown = parse(readFileSync(path, 'utf8'));
  assert.ok(typeof region === 'object' && region !== null && !Array.isArray(region));
  return (region as Record<string, unknown>)['cidr'];
}

// What `region add eu-frankfurt --area overseas --provider aws --cloud-region eu-central-1` wrote before this
// change, byte for byte: the YAML library now writes it, and writes the same.
const FRANKFURT_FILE = `# yaml-language-server: $schema=../agent/schemas/region.schema.json
# Region eu-frankfurt: overseas, aws eu-central-1. Created by \`mirrornet region add\`.
# Still to fill in before the agent can bring everything up:
#   - cloud.vpcId and cloud.routeTables of the new VPC
#   - links[0].local.nextHop (the VPN gateway of the new VPC) and links[0].local.peerAddress
#   - the pre-shared key in MIRRORNET_PSK_EU_FRANKFURT on both gateways
kind: Region
name: eu-frankfurt
area: overseas
provider: aws
cloud:
  region: eu-central-1
cidr: 10.160.0.0/16
gateways:
  - name: gw1
    address: 10.160.0.10
links:
  - to: ap-singapore
    type: vpn-ipsec
    mtu: 1400
    mssClamp: true
    psk: env:MIRRORNET_PSK_EU_FRANKFURT
    local: {}
    remote:
      gateway: gw1
      peerAddress: 203.0.113.20
      nextHop: vpngw-sg-0001
mirror:
  runtime: containerd
  registries:
    - harbor-ap-singapore
  dragonfly:
    manager: http://10.128.1.10:65003
    schedulerClusterId: 14
    proxyPort: 4001
    idc: eu-frankfurt
    location: overseas|eu-central-1
    storageDir: /var/lib/dragonfly
    gc:
      interval: 15m
      taskTTL: 6h
      diskHighThresholdPercent: 85
      diskLowThresholdPercent: 70
  dialTimeout: 2s
`;

describe('mirrornet region add under hostile input', () => {
  let tmp: string;
  let repo: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mirrornet-region-add-'));
    repo = join(tmp, 'repo');
    for (const d of MODEL_DIRS) cpSync(join(repoRoot, d), join(repo, d), { recursive: true });
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('writes the same file as before, and it validates', async () => {
    const r = await cli([...FRANKFURT, '--repo', repo, '--write']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(repo, 'regions', 'eu-frankfurt.yaml'), 'utf8'), FRANKFURT_FILE);
    assert.equal(lstatSync(join(repo, 'regions', 'eu-frankfurt.yaml')).mode & 0o777, 0o644);
    assert.deepEqual(
      readdirSync(join(repo, 'regions')).filter((f) => f.startsWith('.')),
      [],
      'no file left aside',
    );
    assert.deepEqual(validateRepo(repo).errors, []);
  });

  describe('the repository boundary', () => {
    it('refuses a regions/ that is a symlink out of the repository and writes nothing there', async () => {
      const outside = join(tmp, 'outside-regions');
      renameSync(join(repo, 'regions'), outside);
      symlinkSync(outside, join(repo, 'regions'));
      const before = snapshot(outside);
      for (const write of [['--write'], []]) {
        const r = await cli([...FRANKFURT, '--repo', repo, ...write]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.equal(
          r.stderr,
          'mirrornet: regions/ is a symlink that points outside the repository; the fleet must be reviewable in the repository alone: ' +
            'replace it with the directory itself. Nothing was written.\n',
        );
        assert.equal(r.stdout, '');
      }
      assert.deepEqual(snapshot(outside), before);
      assert.equal(existsSync(join(outside, 'eu-frankfurt.yaml')), false);
    });

    it('writes through a regions/ symlink that stays inside the repository, as validate reads it', async () => {
      renameSync(join(repo, 'regions'), join(repo, 'fleet-regions'));
      symlinkSync('fleet-regions', join(repo, 'regions'));
      const r = await cli([...FRANKFURT, '--repo', repo, '--write']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(repo, 'fleet-regions', 'eu-frankfurt.yaml'), 'utf8'), FRANKFURT_FILE);
      assert.deepEqual(validateRepo(repo).errors, []);
    });

    it('creates a missing regions/ inside the repository', async () => {
      rmSync(join(repo, 'regions'), { recursive: true });
      const r = await cli(['region', 'add', 'eu-paris', '--area', 'overseas', '--provider', 'idc', '--repo', repo, '--write']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readdirSync(join(repo, 'regions')), ['eu-paris.yaml']);
      assert.equal(lstatSync(join(repo, 'regions')).isDirectory(), true);
    });

    it('refuses a target file that is a symlink out of the repository, to a file not there yet', async () => {
      const outside = join(tmp, 'outside');
      mkdirSync(outside);
      symlinkSync(join(outside, 'eu-frankfurt.yaml'), join(repo, 'regions', 'eu-frankfurt.yaml'));
      const r = await cli([...FRANKFURT, '--repo', repo, '--write']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(
        r.stderr,
        'mirrornet: regions/eu-frankfurt.yaml is a symlink that points outside the repository; region add creates a new file and never ' +
          'writes through a symlink: remove it and run again. Nothing was written.\n',
      );
      assert.deepEqual(readdirSync(outside), []);
      assert.equal(lstatSync(join(repo, 'regions', 'eu-frankfurt.yaml')).isSymbolicLink(), true);
    });

    it('refuses a target file that is a dangling symlink', async () => {
      symlinkSync('eu-gone.yaml', join(repo, 'regions', 'eu-frankfurt.yaml'));
      const r = await cli([...FRANKFURT, '--repo', repo, '--write']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(
        r.stderr,
        'mirrornet: regions/eu-frankfurt.yaml is a symlink that points nowhere; region add creates a new file and never writes through ' +
          'a symlink: remove it and run again. Nothing was written.\n',
      );
      assert.equal(existsSync(join(repo, 'regions', 'eu-gone.yaml')), false);
      assert.equal(lstatSync(join(repo, 'regions', 'eu-frankfurt.yaml')).isSymbolicLink(), true);
    });
  });

  describe('command-line values', () => {
    const refused = async (argv: string[], expected: string): Promise<void> => {
      const before = snapshot(repo);
      for (const write of [['--write'], []]) {
        const r = await cli([...argv, '--repo', repo, ...write]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.equal(r.stderr, `mirrornet: ${expected}\n`);
        assert.equal(r.stdout, '');
      }
      assert.deepEqual(snapshot(repo), before, 'nothing written');
    };
    const withCloudRegion = (value: string): string[] => ['region', 'add', 'eu-frankfurt', '--area', 'overseas', '--provider', 'aws', '--cloud-region', value];

    it('refuses a --cloud-region that adds a key after a line break', async () => {
      await refused(
        withCloudRegion('eu-central-1\nfoo: bar'),
        '--cloud-region "eu-central-1\\nfoo: bar" contains a line break or control character: give the cloud region alone, e.g. eu-central-1.',
      );
    });

    it('refuses a --cloud-region that adds a schema-valid key (description) the old file took', async () => {
      await refused(
        withCloudRegion('eu-central-1\ndescription: injected'),
        '--cloud-region "eu-central-1\\ndescription: injected" contains a line break or control character: give the cloud region alone, e.g. eu-central-1.',
      );
      assert.equal(existsSync(join(repo, 'regions', 'eu-frankfurt.yaml')), false);
    });

    it('refuses a --cloud-region that ends the comment and sets kind', async () => {
      await refused(
        withCloudRegion('# x\nkind: Hub'),
        '--cloud-region "# x\\nkind: Hub" contains a line break or control character: give the cloud region alone, e.g. eu-central-1.',
      );
    });

    it('refuses a --cloud-region that is one line but no cloud region', async () => {
      await refused(
        withCloudRegion('eu-central-1 # x'),
        '--cloud-region "eu-central-1 # x" is not a cloud region: use lowercase letters, digits and dashes, as the cloud names it (e.g. eu-central-1).',
      );
    });

    it('refuses a name with a line break', async () => {
      await refused(
        ['region', 'add', 'eu-frankfurt\nfoo: bar', '--area', 'overseas', '--provider', 'idc'],
        'The name "eu-frankfurt\\nfoo: bar" (the argument of region add) contains a line break or control character: ' +
          'give the region name alone, e.g. eu-frankfurt.',
      );
    });

    it('refuses a --hub with a line break', async () => {
      await refused(
        ['region', 'add', 'eu-frankfurt', '--area', 'overseas', '--provider', 'idc', '--hub', 'ap-singapore\nfoo: bar'],
        '--hub "ap-singapore\\nfoo: bar" contains a line break or control character: give the hub name alone, e.g. ap-singapore.',
      );
    });
  });

  describe('allocation against every declared block', () => {
    it('skips the block of a region file that does not validate, and of one that is not even YAML', async () => {
      // Valid YAML, but no gateways and no mirror: the fleet leaves it out, its cidr still stands.
      writeFileSync(join(repo, 'regions', 'eu-broken.yaml'), 'kind: Region\nname: eu-broken\narea: overseas\nprovider: aws\ncidr: 10.160.0.0/16\n');
      // An unclosed flow sequence: no YAML document at all, but a cidr line.
      writeFileSync(join(repo, 'regions', 'eu-unparsable.yaml'), 'kind: Region\nname: [eu-unparsable\ncidr: 10.168.0.0/16\n');
      const r = await cli([...FRANKFURT, '--repo', repo, '--write']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^wrote regions\/eu-frankfurt\.yaml: 10\.176\.0\.0\/16, vpn-ipsec link to ap-singapore\n/);
      assert.equal(cidrOf(join(repo, 'regions', 'eu-frankfurt.yaml')), '10.176.0.0/16');
      // Errors only in the two broken files: the new one validates.
      assert.deepEqual([...new Set(validateRepo(repo).errors.map((e) => e.file))].sort(), ['regions/eu-broken.yaml', 'regions/eu-unparsable.yaml']);
    });

    it('skips the block of a hub file that does not validate', async () => {
      writeFileSync(join(repo, 'hubs', 'eu-core.yaml'), 'kind: Hub\nname: eu-core\narea: overseas\ncidr: 10.160.0.0/16\n');
      const r = await cli(['region', 'add', 'eu-paris', '--area', 'overseas', '--provider', 'idc', '--repo', repo, '--write']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(cidrOf(join(repo, 'regions', 'eu-paris.yaml')), '10.168.0.0/16');
    });
  });
});
