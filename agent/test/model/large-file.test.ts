// A region file of 100k keys, under the 1 MiB limit, is validated in seconds, not minutes: the duplicate-key
// check, finding positions and the report grow linearly. The bound is a generous sanity bound (the measured
// time is about 2 s); a quadratic step takes minutes on these files.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_DIRECTORIES, type VirtualFile } from '../../src/model/loader.js';
import { formatText } from '../../src/policy/format.js';
import { validateFiles, type Report } from '../../src/policy/validate.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/fleet-small', import.meta.url));
const KEYS = 100_000;
const PATH = 'regions/ap-jakarta.yaml';
const SANITY_BOUND_MS = 20_000;

/** `x0`, `x1`, ... in base 36: short enough that 100k of them stay under 1 MiB, never read as numbers, none a key of a region. */
const keyName = (i: number) => `x${i.toString(36)}`;

/** The passing fixture fleet-small with its region ap-jakarta replaced by `text`. */
function fleetWith(text: string): VirtualFile[] {
  const files = MODEL_DIRECTORIES.flatMap((dir) => readdirSync(join(FIXTURE, dir)).map((entry) => `${dir}/${entry}`));
  return files.map((path) => ({ path, content: path === PATH ? text : readFileSync(join(FIXTURE, path), 'utf8') }));
}

/** The errors about the big file. */
const errorsOf = (report: Report) => report.errors.filter((f) => f.file === PATH);

function timed<T>(run: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = run();
  return { value, ms: performance.now() - start };
}

describe('a model file with 100k keys', function () {
  this.timeout(60_000);

  it('validates 100k labels (valid) well within the sanity bound', () => {
    const labels = Array.from({ length: KEYS }, (_, i) => ` ${keyName(i)}: v\n`).join('');
    const text = `${readFileSync(join(FIXTURE, PATH), 'utf8')}labels:\n${labels}`;
    assert.ok(Buffer.byteLength(text) < 1024 * 1024, 'the file stays under the 1 MiB limit');
    const { value: report, ms } = timed(() => validateFiles(fleetWith(text)));
    assert.deepEqual(
      errorsOf(report).map((f) => f.rule),
      [],
    );
    assert.ok(ms < SANITY_BOUND_MS, `took ${Math.round(ms)} ms`);
  });

  it('reports 100k unknown keys as 100 findings and one that counts the rest, well within the sanity bound', () => {
    const unknown = Array.from({ length: KEYS }, (_, i) => `${keyName(i)}: 1\n`).join('');
    const text = `${readFileSync(join(FIXTURE, PATH), 'utf8')}${unknown}`;
    assert.ok(Buffer.byteLength(text) < 1024 * 1024, 'the file stays under the 1 MiB limit');
    const { value: report, ms } = timed(() => {
      const r = validateFiles(fleetWith(text));
      formatText(r);
      return r;
    });
    const errors = errorsOf(report);
    assert.equal(errors.length, 101);
    assert.deepEqual(new Set(errors.slice(0, 100).map((f) => f.rule)), new Set(['schema/unknown-key']));
    assert.equal(errors[100]!.rule, 'file/too-many-findings');
    assert.match(errors[100]!.message, /and 99900 more findings/);
    assert.ok(ms < SANITY_BOUND_MS, `took ${Math.round(ms)} ms`);
  });

  it('finds a duplicate key among 100k keys, at its line', () => {
    const labels = Array.from({ length: KEYS }, (_, i) => ` ${keyName(i)}: v\n`).join('');
    const text = `${readFileSync(join(FIXTURE, PATH), 'utf8')}labels:\n${labels} x0: again\n`;
    const lines = text.split('\n').length - 1;
    const report = validateFiles(fleetWith(text));
    assert.deepEqual(
      errorsOf(report).map((f) => [f.rule, f.line]),
      [['yaml/syntax', lines]],
    );
  });
});
