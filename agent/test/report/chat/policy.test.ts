// policies/notifications.yaml through the validator: the repository's example is clean, a clean policy
// on fleet-small has no finding at all, and an event that is not an event is refused by the schema
// (schema/value, with a suggestion) — which is why notifications/* has no rule of its own for it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_DIRECTORIES, type VirtualFile } from '../../../src/model/loader.js';
import { validateFiles, validateRepo } from '../../../src/policy/validate.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/fleet-small', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../..', import.meta.url));

function fixture(): VirtualFile[] {
  return MODEL_DIRECTORIES.flatMap((dir) =>
    readdirSync(join(FIXTURE, dir))
      .sort()
      .map((f) => ({ path: `${dir}/${f}`, content: readFileSync(join(FIXTURE, dir, f), 'utf8') })),
  );
}

const POLICY = `# yaml-language-server: $schema=../../../../schemas/notifications.schema.json
kind: Notifications
name: notifications
reminder: 12h
channels:
  - name: network-cn
    type: feishu
    url: env:MN_FEISHU_URL
    secret: env:MN_FEISHU_SECRET
    rateLimit:
      perMinute: 100
  - name: oncall
    type: dingtalk
    url: env:MN_DINGTALK_URL
    secret: file:/etc/mirrornet/dingtalk-secret
  - name: intl
    type: slack
    url: env:MN_SLACK_URL
routes:
  - match:
      areas: [cn]
    channels: [network-cn]
  - match:
      regions: [cn-shanghai, cn-beijing]
      events: [apply-failed, drift-detected]
    channels: [oncall]
  - match:
      areas: [overseas]
    channels: [intl]
`;

describe('policies/notifications.yaml in the validator', () => {
  it('the repository example has no notifications finding', () => {
    const report = validateRepo(REPO);
    const mine = [...report.errors, ...report.warnings].filter((f) => f.file === 'policies/notifications.yaml');
    assert.deepEqual(mine, []);
    assert.ok(report.fleet.policies.notifications, 'the example is loaded');
  });

  it('a clean policy on fleet-small has no finding at all', () => {
    const report = validateFiles([...fixture(), { path: 'policies/notifications.yaml', content: POLICY }]);
    assert.deepEqual([...report.errors, ...report.warnings], []);
  });

  it('an event that is not an event is refused by the schema, with the event it probably meant', () => {
    const report = validateFiles([
      ...fixture(),
      { path: 'policies/notifications.yaml', content: POLICY.replace('apply-failed, drift-detected', 'apply-failed, drift-detectd') },
    ]);
    const f = report.errors.find((e) => e.file === 'policies/notifications.yaml');
    assert.ok(f, 'a finding');
    assert.equal(f.rule, 'schema/value');
    assert.match(f.message, /drift-detected/);
  });

  it('an unknown event, component or severity in a route is a finding at its file and line, with a suggestion', () => {
    const content = POLICY.replace(
      '      events: [apply-failed, drift-detected]\n',
      '      events: [apply-failed, drift-detectd]\n    exclude:\n      components: [wireguad]\n    minSeverity: warnign\n',
    );
    const report = validateFiles([...fixture(), { path: 'policies/notifications.yaml', content }]);
    assert.deepEqual(
      report.errors.filter((e) => e.file === 'policies/notifications.yaml').map((e) => `${e.file}:${e.line}:${e.column} ${e.rule} ${e.message}`),
      [
        'policies/notifications.yaml:25:30 schema/value routes[1].match.events[1] must be one of applied, apply-failed, revision-refused, guardrail-blocked, ' +
          'drift-detected, drift-resolved, agent-stalled, agent-recovered, drift-healed, site-silent, site-back, site-suspended, site-resumed, ' +
          'rollout-advanced, rollout-halted, rollout-complete, rollout-superseded, site-retired, ' +
          'not "drift-detectd". Did you mean "drift-detected"?',
        'policies/notifications.yaml:27:20 schema/value routes[1].exclude.components[0] must be one of routes, wireguard, containerd, docker, dragonfly, ' +
          'huaweicloud-vpc, harbor-config, postgres, harbor-api, source, fetch, verify, validate, read, state, apply, lock, reconcile, publish, hook, ' +
          'command, idle, not "wireguad". Did you mean "wireguard"?',
        'policies/notifications.yaml:28:18 schema/value routes[1].minSeverity must be one of info, warning, critical, not "warnign". Did you mean "warning"?',
      ],
    );
  });

  it('apply-started is not a chat event either', () => {
    const report = validateFiles([
      ...fixture(),
      { path: 'policies/notifications.yaml', content: POLICY.replace('apply-failed, drift-detected', 'apply-started') },
    ]);
    assert.equal(report.errors.find((e) => e.file === 'policies/notifications.yaml')?.rule, 'schema/value');
  });
});
