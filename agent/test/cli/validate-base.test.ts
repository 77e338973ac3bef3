// `mirrornet validate --base REV` on real git repositories (a copy of the example fleet): the work tree is
// the change, REV its base. A commit cannot take the fleet down: removing more sites or links than the base's
// guardrails allow, or every region, fails even when the same change raises the limits; sites retired at the
// base, or named by an acknowledgement in the change, are excused; a guardrails change is a notice.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, createFleetRepo, type FleetRepo } from '../report/fixture.js';

const REGIONS = ['ap-jakarta', 'cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai', 'eu-amsterdam-idc', 'us-virginia'];
const ACKNOWLEDGED = 'policies/acknowledged-removals.yaml';
const ACK_HEAD =
  '# yaml-language-server: $schema=../agent/schemas/acknowledged-removals.schema.json\nkind: AcknowledgedRemovals\nname: acknowledged-removals\nremovals:\n';
const THREE = ['cn-guangzhou', 'cn-hangzhou-idc', 'cn-shanghai'];
/** The guardrails/not-retired sentence for a region deleted without retiring first. */
const notRetired = (r: string) =>
  `regions/${r}.yaml is deleted, but ${r} was not retiring at the base: its agents would fail (there is no site ${r} any more) and ` +
  'nothing on its hosts or its neighbours would be torn down. Mark it `lifecycle: retiring` first, merge, wait for its agents to report ' +
  `retired (\`mirrornet status\`, commit status mirrornet/${r}), then delete the file.`;
const THREE_GONE =
  'This revision removes 3 sites (cn-guangzhou, cn-hangzhou-idc, cn-shanghai), more than the fleet-wide limit (maxSiteRemovals: 2 in ' +
  'policies/guardrails.yaml of the revision before it). To remove them on purpose, either mark each `lifecycle: retiring` in its file in ' +
  'a change of its own and let the agents apply it before the change that deletes it, or name them with a reason in ' +
  'policies/acknowledged-removals.yaml in the change that deletes them.';

interface JsonReport {
  valid: boolean;
  errors: { rule: string; file: string; line: number; message: string }[];
  warnings: unknown[];
  notices?: { rule: string; file: string; line: number; message: string }[];
}

describe('validate --base: a commit cannot take the fleet down', function () {
  this.timeout(60_000);
  let repo: FleetRepo;
  let base: string;

  beforeEach(() => {
    repo = createFleetRepo();
    base = repo.git(['rev-parse', 'HEAD']);
  });
  afterEach(() => repo.cleanup());

  async function validate(rev: string, ...extra: string[]) {
    return cli(['validate', '--repo', repo.fleet, '--base', rev, ...extra]);
  }

  async function json(rev: string): Promise<{ code: number; report: JsonReport }> {
    const r = await validate(rev, '--format', 'json');
    return { code: r.code, report: JSON.parse(r.stdout) as JsonReport };
  }

  it('a change that deletes every region and raises maxSiteRemovals itself: exit 1 by the base’s limit, annotated; the raise is a notice', async () => {
    for (const r of REGIONS) repo.remove(`regions/${r}.yaml`);
    repo.replace('policies/guardrails.yaml', 'maxSiteRemovals: 2', 'maxSiteRemovals: 100');
    // On its own the change is a valid fleet of two cores: only the comparison with the base catches it.
    assert.equal((await cli(['validate', '--repo', repo.fleet])).code, 0);

    const r = await validate(base, '--format', 'github');
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 13);
    // Each deleted region had not retired: one annotation on each deleted file.
    assert.deepEqual(
      lines.slice(2, 8),
      REGIONS.map((x) => `::error file=regions/${x}.yaml,line=1,col=1,title=guardrails/not-retired::${notRetired(x)}`),
    );
    assert.equal(
      lines[0],
      '::error file=policies/guardrails.yaml,line=13,col=1,title=guardrails/fleet-removal::This revision removes every region (ap-jakarta, ' +
        'cn-guangzhou, cn-hangzhou-idc, cn-shanghai, eu-amsterdam-idc, us-virginia), which takes the fleet down: refused whatever the limit ' +
        '(maxSiteRemovals: 2 in policies/guardrails.yaml of the revision before it). To remove them on purpose, either mark each ' +
        '`lifecycle: retiring` in its file in a change of its own and let the agents apply it before the change that deletes it, or name ' +
        'them with a reason in policies/acknowledged-removals.yaml in the change that deletes them.',
    );
    assert.match(lines[1]!, /^::error file=policies\/guardrails\.yaml,line=14,col=1,title=guardrails\/fleet-removal::This revision removes 6 links \(/);
    // Every wave of policies/rollout.yaml but the cores' is left without a site: a warning each.
    assert.deepEqual(
      lines.slice(8, 11),
      [
        ['20', 'canary'],
        ['24', 'china'],
        ['27', 'overseas'],
      ].map(
        ([line, wave]) =>
          `::warning file=policies/rollout.yaml,line=${line},col=5,title=rollout/empty-wave::The wave ${wave} has no site: its match selects none ` +
          'that an earlier wave does not take. Widen its match or remove the wave.',
      ),
    );
    assert.equal(
      lines[11],
      '::notice file=policies/guardrails.yaml,line=13,col=1,title=guardrails/changed::The guardrails change (maxSiteRemovals: 2 → 100). ' +
        'Agents judge a revision by the guardrails of the revision they applied before it, and so does `validate --base`: the new values ' +
        'take effect one revision after this one is applied, and this change is judged by the old ones.',
    );
    assert.equal(lines[12], 'invalid: 8 errors, 3 warnings, 1 notice in 12 files');
  });

  it('three regions removed: exit 1 over the limit of 2; retired at the base first, the same removal passes', async () => {
    for (const r of THREE) repo.remove(`regions/${r}.yaml`);
    const over = await json(base);
    assert.equal(over.code, 1);
    assert.deepEqual(
      over.report.errors.map((e) => [e.rule, e.file, e.message]),
      [
        ['guardrails/fleet-removal', 'policies/guardrails.yaml', THREE_GONE],
        ...THREE.map((x) => ['guardrails/not-retired', `regions/${x}.yaml`, notRetired(x)]),
      ],
    );

    // The other way: a change that only marks them retiring (valid, nothing removed) ...
    repo.git(['checkout', '--', '.']);
    for (const r of THREE) repo.replace(`regions/${r}.yaml`, 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
    assert.equal((await validate(base)).code, 0);
    const retiring = repo.commit('Guangzhou, Hangzhou and Shanghai are retiring');
    // ... then the change that deletes them, compared with the revision where they retire.
    for (const r of THREE) repo.remove(`regions/${r}.yaml`);
    const after = await validate(retiring);
    assert.equal(after.code, 0, after.stdout);
    // The china wave is left without a site.
    assert.equal(
      after.stdout,
      'policies/rollout.yaml\n' +
        '  24:5  warning  The wave china has no site: its match selects none that an earlier wave does not take. Widen its match or remove the wave.' +
        '  rollout/empty-wave\n\nvalid: 15 files checked, 1 warning\n',
    );
    // Compared with a base where they were not retiring, it is still too much.
    assert.equal((await validate(base)).code, 1);
  });

  it('an acknowledgement in the change excuses exactly the sites it names; one naming other sites does not, one naming live sites is an error', async () => {
    for (const r of THREE) repo.remove(`regions/${r}.yaml`);
    repo.write(
      ACKNOWLEDGED,
      `${ACK_HEAD}  - sites: [cn-guangzhou, cn-hangzhou-idc, cn-shanghai]\n    reason: the cn regions move to Beijing's VPC (CHG-1234)\n`,
    );
    const ok = await validate(base);
    assert.equal(ok.code, 0, ok.stdout);

    repo.write(ACKNOWLEDGED, `${ACK_HEAD}  - sites: [cn-wuhan]\n    reason: a region that never existed\n`);
    const other = await json(base);
    assert.equal(other.code, 1);
    assert.deepEqual(
      other.report.errors.map((e) => [e.rule, e.file]),
      [['guardrails/fleet-removal', 'policies/guardrails.yaml'], ...THREE.map((x) => ['guardrails/not-retired', `regions/${x}.yaml`])],
    );
    assert.equal(
      other.report.errors[0]!.message.slice(0, other.report.errors[0]!.message.indexOf(')') + 1),
      'This revision removes 3 sites (cn-guangzhou, cn-hangzhou-idc, cn-shanghai)',
    );

    repo.git(['checkout', '--', '.']);
    repo.write(ACKNOWLEDGED, `${ACK_HEAD}  - sites: [ap-jakarta]\n    reason: left over\n`);
    const stale = await json(base);
    assert.equal(stale.code, 1);
    assert.deepEqual(
      stale.report.errors.map((e) => [e.rule, e.file, e.line]),
      [['guardrails/acknowledged-exists', ACKNOWLEDGED, 5]],
    );
  });

  it('one region deleted, within every limit: exit 1 unless it was retiring at the base; retired first, the deletion validates', async () => {
    repo.remove('regions/us-virginia.yaml');
    const direct = await validate(base, '--format', 'github');
    assert.equal(direct.code, 1);
    assert.equal(
      direct.stdout,
      `::error file=regions/us-virginia.yaml,line=1,col=1,title=guardrails/not-retired::${notRetired('us-virginia')}\n` +
        'invalid: 1 error, 0 warnings in 17 files\n',
    );
    // Without --base, validate judges the files alone, as before: a fleet without Virginia is valid.
    assert.equal((await cli(['validate', '--repo', repo.fleet])).code, 0);

    repo.git(['checkout', '--', '.']);
    repo.replace('regions/us-virginia.yaml', 'kind: Region\n', 'kind: Region\nlifecycle: retiring\n');
    const marking = await validate(base);
    assert.equal(marking.code, 0, marking.stdout);
    const retiring = repo.commit('Virginia is retiring');
    repo.remove('regions/us-virginia.yaml');
    const after = await validate(retiring);
    assert.equal(after.code, 0, after.stdout);
    assert.equal(after.stdout, 'valid: 17 files checked, 0 warnings\n');
  });

  it('a guardrails change on its own is valid, with a notice; JSON lists notices', async () => {
    repo.replace('policies/guardrails.yaml', 'maxDeletionsPerApply: 20', 'maxDeletionsPerApply: 50');
    const r = await json(base);
    assert.equal(r.code, 0);
    assert.deepEqual(r.report.errors, []);
    assert.deepEqual(
      r.report.notices?.map((n) => [n.rule, n.file, n.line, n.message.slice(0, 66)]),
      [['guardrails/changed', 'policies/guardrails.yaml', 5, 'The guardrails change (maxDeletionsPerApply: 20 → 50). Agents judg']],
    );
    const text = await validate(base);
    assert.match(text.stdout, /^ {2}5:1 {2}notice {3}The guardrails change \(maxDeletionsPerApply: 20 → 50\)\./m);
    assert.match(text.stdout, /^valid: 18 files checked, 0 warnings, 1 notice$/m);
  });

  it('a base without a fleet (the pull request that adds it) removes nothing', async () => {
    const full = base;
    repo.git(['rm', '-q', '-r', 'hubs', 'regions', 'harbor', 'policies']);
    const empty = repo.commit('no fleet');
    repo.git(['checkout', full, '--', '.']);
    const r = await validate(empty);
    assert.equal(r.code, 0, r.stdout);
  });

  it('an invalid change gets its own findings only: nothing is compared with a partial fleet', async () => {
    for (const r of REGIONS.slice(0, 5)) repo.remove(`regions/${r}.yaml`);
    repo.write('regions/us-virginia.yaml', 'kind: Region\nname: us-virginia\ncidr: [\n');
    const r = await json(base);
    assert.equal(r.code, 1);
    assert.deepEqual([...new Set(r.report.errors.map((e) => e.rule))], ['yaml/syntax']);
  });

  it('a --base that is not a commit, or a directory outside git, is a usage error (exit 2) with a sentence', async () => {
    const r = await validate('no-such-branch');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^mirrornet: --base no-such-branch: no-such-branch is not a commit in .*fetch-depth: 0/);
    const outside = mkdtempSync(join(tmpdir(), 'mirrornet-nogit-'));
    try {
      for (const d of ['hubs', 'regions', 'harbor', 'policies']) cpSync(join(repo.fleet, d), join(outside, d), { recursive: true });
      const notGit = await cli(['validate', '--repo', outside, '--base', 'HEAD']);
      assert.equal(notGit.code, 2);
      assert.match(notGit.stderr, /^mirrornet: --base HEAD: .* is not in a git repository .*pass --repo with a clone of the configuration repository\.\n$/);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
