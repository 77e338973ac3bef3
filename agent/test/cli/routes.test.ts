// `mirrornet routes`: the routes of a fleet the pipeline validated; an invalid fleet is refused with its
// findings (exit 1, nothing printed on stdout), as plan refuses it.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli } from '../support/cli.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

describe('mirrornet routes', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mirrornet-routes-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it("prints a site's routes from the example fleet", async () => {
    const r = await cli(['routes', '--repo', repoRoot, '--site', 'eu-amsterdam-idc']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'eu-amsterdam-idc (region, overseas, idc, 10.152.0.0/16)\n' +
        '  10.128.0.0/16      via ap-singapore     wireguard     to ap-singapore\n' +
        '  10.136.0.0/16      via ap-singapore     wireguard     to ap-jakarta\n',
    );
  });

  it('refuses an invalid fleet with its findings and exits 1, printing no routes', async () => {
    for (const d of ['hubs', 'regions', 'harbor', 'policies']) cpSync(join(repoRoot, d), join(tmp, d), { recursive: true });
    const file = join(tmp, 'regions/us-virginia.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('cidr: 10.144.0.0/16', 'cidr: 10.136.0.0/16'));
    const r = await cli(['routes', '--repo', tmp]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /regions\/us-virginia\.yaml\n {2}12:7 +error +10\.136\.0\.0\/16 overlaps ap-jakarta .* cidr\/overlap\n/);
    assert.match(r.stderr, /^mirrornet: The repository is invalid \(5 errors, above\): no routes were computed\. Fix it and try again\.$/m);
  });

  it('names the sites there are when asked for one that is not', async () => {
    const r = await cli(['routes', '--repo', repoRoot, '--site', 'eu-nowhere']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^mirrornet: There is no site "eu-nowhere": use one of /);
  });
});
