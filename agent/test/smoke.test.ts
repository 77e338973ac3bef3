import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { validateRepo } from '../src/policy/validate.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('the example fleet', () => {
  it('is valid without warnings', () => {
    const report = validateRepo(repoRoot);
    assert.deepEqual([...report.errors, ...report.warnings], []);
    assert.equal(report.fleet.regions.size >= 5, true);
  });
});
