// The constraint inventory of Harbor's API and Huawei Cloud's VPC route tables (model/constraints/harbor-api.ts
// and huaweicloud-vpc.ts): each entry names where upstream decides (repository or documentation page, path,
// version), each key is listed once, and each rule it names is a registered rule. Which keys the providers
// send is checked where they send them (the harbor-api and huaweicloud-vpc provider tests).
import assert from 'node:assert/strict';
import { HARBOR_API_CONSTRAINTS } from '../../src/model/constraints/harbor-api.js';
import { HUAWEI_VPC_CONSTRAINTS } from '../../src/model/constraints/huaweicloud-vpc.js';
import type { Upstream } from '../../src/model/constraints/types.js';
import { harborCronRefusal } from '../../src/model/constraints/harbor-cron.js';
import { RULES } from '../../src/policy/registry.js';

const MINE = [...HARBOR_API_CONSTRAINTS, ...HUAWEI_VPC_CONSTRAINTS];

describe('the Harbor API and Huawei VPC constraint inventory', () => {
  it('has entries for both consumers, each key once', () => {
    assert.ok(MINE.filter((c) => c.consumer === 'harbor-api').length >= 60);
    assert.ok(MINE.filter((c) => c.consumer === 'huaweicloud-vpc').length >= 10);
    const keys = MINE.map((c) => `${c.consumer} ${c.key}`);
    assert.deepEqual(
      keys.filter((k, i) => keys.indexOf(k) !== i),
      [],
    );
  });

  it('names the upstream file of every entry: goharbor/harbor at v2.15.2, robfig/cron v3.0.1, Huawei Cloud pages', () => {
    for (const c of MINE) {
      assert.ok(c.upstream.length > 0, c.key);
      for (const u of c.upstream satisfies readonly Upstream[]) {
        assert.ok(u.repo && u.path && u.ref, `${c.key}: ${JSON.stringify(u)}`);
        if (u.repo === 'goharbor/harbor') assert.equal(u.ref, 'v2.15.2', c.key);
      }
      if (c.consumer === 'huaweicloud-vpc')
        assert.ok(
          c.upstream.some((u) => u.repo === 'https://support.huaweicloud.com' || u.repo.startsWith('npm:@huaweicloud/')),
          c.key,
        );
    }
  });

  it('names only registered rules', () => {
    const unknown = MINE.filter((c) => c.rule !== undefined && !RULES.has(c.rule)).map((c) => `${c.key} -> ${c.rule}`);
    assert.deepEqual(unknown, []);
  });

  it('finds the entry of a key the way rules and tests look it up', () => {
    assert.equal(HARBOR_API_CONSTRAINTS.find((c) => c.key === 'PATCH /robots/{robot_id} body.secret')?.type, 'string (secret)');
    assert.equal(HUAWEI_VPC_CONSTRAINTS.find((c) => c.key === 'quota vpcContainRoutetable')?.rule, 'cloud/route-quota');
  });
});

describe("Harbor's replication cron check (robfig/cron v3.0.1 with Harbor's two extra checks)", () => {
  const accepts = ['0 0 3 * * *', '0 0 */2 * * *', '0 15 3 1 JAN ?', '0 0 3 * * MON-FRI', '0 0,30 8-18 * * 1-5', '0 5/15 * * * *', '0  0 3 * * *'];
  const refuses: [string, string][] = [
    ['', 'the cron string cannot be empty when the trigger type is scheduled'],
    ['0 3 * * *', 'invalid cron string for scheduled trigger: 0 3 * * *'],
    ['@daily', 'invalid cron string for scheduled trigger: @daily'],
    ['0 0 24 * * *', 'invalid cron string for scheduled trigger: 0 0 24 * * *'],
    ['0 0 3 0 * *', 'invalid cron string for scheduled trigger: 0 0 3 0 * *'],
    ['0 0 3 * * 7', 'invalid cron string for scheduled trigger: 0 0 3 * * 7'],
    ['0 0 5-3 * * *', 'invalid cron string for scheduled trigger: 0 0 5-3 * * *'],
    ['0 */0 * * * *', 'invalid cron string for scheduled trigger: 0 */0 * * * *'],
    ['0 1-2-3 * * * *', 'invalid cron string for scheduled trigger: 0 1-2-3 * * * *'],
    ['30 0 3 * * *', 'the 1st field (indicating Seconds of time) of the cron setting must be 0'],
    ['TZ=UTC 0 0 3 * * *', 'the 1st field (indicating Seconds of time) of the cron setting must be 0'],
    ['0 * 3 * * *', '* is not allowed for the Minutes field of the cron setting of replication policy'],
  ];
  for (const cron of accepts) it(`takes "${cron}"`, () => assert.equal(harborCronRefusal(cron), undefined));
  for (const [cron, message] of refuses) it(`refuses "${cron}": ${message}`, () => assert.equal(harborCronRefusal(cron), message));
});
