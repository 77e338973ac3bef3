// The last applied revision survives an agent upgrade: a desired.json an earlier agent wrote is read in
// today's shape, so the first tick after the upgrade checks drift instead of failing.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadApplied } from '../../src/reconcile/applied.js';
import { HarborInstance } from '../../src/model/schema.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const harbor = (name: string) => HarborInstance.parse(parse(readFileSync(join(repoRoot, `harbor/harbor-${name}.yaml`), 'utf8')));

describe('the last applied revision on disk', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mirrornet-applied-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("a core's Harbor saved before bundle schema 3 (instance and peers only) is read with its objects compiled", async () => {
    const beijing = harbor('cn-beijing');
    const singapore = harbor('ap-singapore');
    const desired = { site: 'cn-beijing', roles: ['hub'], routes: [], wireguard: [], harbor: { instance: beijing, peers: [singapore] } };
    writeFileSync(join(dir, 'desired.json'), JSON.stringify({ revision: 'abc', desired }));
    const applied = await loadApplied(dir, 'abc');
    const objects = applied?.desired.harbor?.objects;
    assert.equal(objects?.instance, 'harbor-cn-beijing');
    assert.deepEqual(
      objects?.registries.filter((r) => r.peer).map((r) => [r.name, r.url, r.accessKey]),
      [['mirrornet-harbor-ap-singapore', 'https://harbor.sg.mirrornet.internal', 'robot$replication-from-beijing']],
    );
  });

  it('a desired state without Harbor is read as it was written', async () => {
    const desired = { site: 'us-virginia', roles: ['node'], routes: [{ to: '10.0.0.0/16', via: '10.1.0.1' }], wireguard: [] };
    writeFileSync(join(dir, 'desired.json'), JSON.stringify({ revision: 'abc', desired }));
    assert.deepEqual((await loadApplied(dir, 'abc'))?.desired, desired);
  });
});
