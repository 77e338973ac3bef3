// A region file of 100k keys, under the 1 MiB limit, is validated, and its findings are right: the duplicate-key
// check, finding positions and the report grow linearly (a quadratic step takes minutes on these files and
// runs into the test's timeout). How long it takes, against parsing the same file, is `npm run bench`'s
// (agent/bench/trust.ts), not a timed assertion here.
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

/** `x0`, `x1`, ... in base 36: short enough that 100k of them stay under 1 MiB, never read as numbers, none a key of a region. */
const keyName = (i: number) => `x${i.toString(36)}`;

/** The passing fixture fleet-small with its region ap-jakarta replaced by `text`. */
function fleetWith(text: string): VirtualFile[] {
  const files = MODEL_DIRECTORIES.flatMap((dir) => readdirSync(join(FIXTURE, dir)).map((entry) => `${dir}/${entry}`));
  return files.map((path) => ({ path, content: path === PATH ? text : readFileSync(join(FIXTURE, path), 'utf8') }));
}

/** The errors about the big file. */
const errorsOf = (report: Report) => report.errors.filter((f) => f.file === PATH);

describe('a model file with 100k keys', function () {
  this.timeout(60_000);

  it('validates 100k labels (valid) without a finding', () => {
    const labels = Array.from({ length: KEYS }, (_, i) => ` ${keyName(i)}: v\n`).join('');
    const text = `${readFileSync(join(FIXTURE, PATH), 'utf8')}labels:\n${labels}`;
    assert.ok(Buffer.byteLength(text) < 1024 * 1024, 'the file stays under the 1 MiB limit');
    const report = validateFiles(fleetWith(text));
    assert.deepEqual(
      errorsOf(report).map((f) => f.rule),
      [],
    );
  });

  it('reports 100k unknown keys as 100 findings and one that counts the rest', () => {
    const unknown = Array.from({ length: KEYS }, (_, i) => `${keyName(i)}: 1\n`).join('');
    const text = `${readFileSync(join(FIXTURE, PATH), 'utf8')}${unknown}`;
    assert.ok(Buffer.byteLength(text) < 1024 * 1024, 'the file stays under the 1 MiB limit');
    const report = validateFiles(fleetWith(text));
    assert.match(formatText(report), /and 99900 more findings/);
    const errors = errorsOf(report);
    assert.equal(errors.length, 101);
    assert.deepEqual(new Set(errors.slice(0, 100).map((f) => f.rule)), new Set(['schema/unknown-key']));
    assert.equal(errors[100]!.rule, 'file/too-many-findings');
    assert.match(errors[100]!.message, /and 99900 more findings/);
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
