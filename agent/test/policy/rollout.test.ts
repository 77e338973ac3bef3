// policies/rollout.yaml: the example fleet's policy is valid and puts each site in its wave; the validator
// names each mistake with its line; change windows open and close on the wall clock of their time zone.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_DIRECTORIES, type VirtualFile } from '../../src/model/loader.js';
import { assignWaves, waveOfSites, windowState } from '../../src/model/rollout.js';
import { validateFiles } from '../../src/policy/validate.js';

const REPO = fileURLToPath(new URL('../../../..', import.meta.url));

function repoFiles(): VirtualFile[] {
  return MODEL_DIRECTORIES.flatMap((dir) =>
    readdirSync(join(REPO, dir))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => ({ path: `${dir}/${f}`, content: readFileSync(join(REPO, dir, f), 'utf8') })),
  );
}

function withRollout(edit: (text: string) => string): VirtualFile[] {
  return repoFiles().map((f) => (f.path === 'policies/rollout.yaml' ? { ...f, content: edit(String(f.content)) } : f));
}

const rolloutFindings = (files: VirtualFile[]) =>
  [...validateFiles(files).errors, ...validateFiles(files).warnings]
    .sort((a, b) => a.line - b.line)
    .filter((e) => e.file === 'policies/rollout.yaml')
    .map((e) => `${e.line} ${e.rule} ${e.message}`);

describe('rollout policy', () => {
  it("the example fleet's rollout: the cores, then the regions labelled canary, then China, then overseas", () => {
    const report = validateFiles(repoFiles());
    assert.deepEqual([...report.errors, ...report.warnings], []);
    assert.deepEqual(Object.fromEntries(waveOfSites(report.fleet)!), {
      'ap-jakarta': 'canary',
      'ap-singapore': 'cores',
      'cn-beijing': 'cores',
      'cn-guangzhou': 'china',
      'cn-hangzhou-idc': 'canary',
      'cn-shanghai': 'china',
      'eu-amsterdam-idc': 'overseas',
      'us-virginia': 'overseas',
    });
  });

  it('names an unknown site, a site in no wave, and broken windows, each at its line', () => {
    const files = withRollout((t) =>
      t
        .replace('  - name: canary\n', '  - name: canary\n    sites: [cn-hangzou-idc]\n')
        .replace('areas: [overseas]', 'areas: [overseas]\n      providers: [aws]')
        .replace('schedule: 0 10 * * 1-5', 'schedule: 0 10 * *')
        .replace('timeZone: Asia/Singapore', 'timeZone: Asia/Singapur'),
    );
    assert.deepEqual(rolloutFindings(files), [
      "17 rollout/site-wave The site eu-amsterdam-idc is in no wave: it would never get a new revision. Name it in a wave's sites, or widen a wave's match.",
      '21 rollout/unknown-site There is no site "cn-hangzou-idc" (wave canary): did you mean "cn-hangzhou-idc"?',
      '39 rollout/window The schedule "0 10 * *" of the change window cn-working-hours needs five fields: minute hour day-of-month month day-of-week, ' +
        'e.g. "0 2 * * 6" for Saturdays at 02:00.',
      '47 rollout/window The time zone "Asia/Singapur" of the change window overseas-working-hours is not an IANA time zone such as Asia/Shanghai, ' +
        'Europe/Amsterdam or UTC.',
    ]);
  });

  it('a site named by two waves is refused; one matched by two is in the first', () => {
    const twice = assignWaves(
      {
        waves: [
          { name: 'a', sites: ['x'] },
          { name: 'b', sites: ['x'] },
        ],
      },
      [{ name: 'x', area: 'cn', provider: 'idc', role: 'region' }],
    );
    assert.deepEqual(twice.problems, [{ site: 'x', kind: 'named-twice', waves: [0, 1] }]);
    const files = withRollout((t) =>
      t
        .replace('  - name: china\n', '  - name: china\n    sites: [cn-shanghai]\n')
        .replace('  - name: overseas\n', '  - name: overseas\n    sites: [cn-shanghai]\n'),
    );
    assert.deepEqual(rolloutFindings(files), ['29 rollout/site-wave The site cn-shanghai is named by the waves china and overseas: keep it in one of them.']);
  });

  it('a site named by a wave belongs to it even when another wave matches it; else the first wave that matches it', () => {
    const a = assignWaves(
      {
        waves: [
          { name: 'canary', match: { labels: { canary: 'true' } } },
          { name: 'rest', match: { areas: ['cn'] } },
          { name: 'idc', sites: ['hz'] },
        ],
      },
      [
        { name: 'hz', area: 'cn', provider: 'idc', role: 'region', labels: { canary: 'true' } },
        { name: 'gz', area: 'cn', provider: 'huaweicloud', role: 'region' },
      ],
    );
    assert.deepEqual(a.waves, [
      { name: 'canary', sites: [] },
      { name: 'rest', sites: ['gz'] },
      { name: 'idc', sites: ['hz'] },
    ]);
  });

  it('a change window is open on its weekdays in its time zone, and says when it opens next', () => {
    const windows = [{ name: 'cn-working-hours', area: 'cn' as const, schedule: '0 10 * * 1-5', duration: '7h', timeZone: 'Asia/Shanghai' }];
    // Monday 11:00 in Shanghai; Monday 18:00; Saturday 14:00; an area without windows.
    assert.deepEqual(windowState(windows, 'cn', Date.parse('2026-12-07T03:00:00Z')), { open: true });
    assert.deepEqual(windowState(windows, 'cn', Date.parse('2026-12-07T10:00:00Z')), { open: false, opensAt: Date.parse('2026-12-08T02:00:00Z') });
    assert.deepEqual(windowState(windows, 'cn', Date.parse('2026-12-05T06:00:00Z')), { open: false, opensAt: Date.parse('2026-12-07T02:00:00Z') });
    assert.deepEqual(windowState(windows, 'overseas', Date.parse('2026-12-05T06:00:00Z')), { open: true });
  });
});
