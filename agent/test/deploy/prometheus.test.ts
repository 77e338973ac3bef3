// The alerting rules of agent/deploy/prometheus: promtool accepts them and their unit tests pass, and every
// alert says how bad it is, which site and instance, and what to do.
import assert from 'node:assert/strict';
import { missingCommand, need } from '../support/capabilities.js';
import { alertRules, promtool, RULES, rulesTest } from './deploy-files.js';

const ALERTS = [
  'MirrornetReconcileOverdue',
  'MirrornetReconcileFailing',
  'MirrornetDriftOpen',
  'MirrornetAgentStalled',
  'MirrornetRevisionRefused',
  'MirrornetAgentDown',
  'MirrornetSiteRevisionSkew',
];

describe('Prometheus alerting rules (agent/deploy/prometheus)', function () {
  it('promtool check rules accepts mirrornet-rules.yml with its 7 alerts', function () {
    need(this, missingCommand('promtool', 'prometheus'));
    const run = promtool(['check', 'rules', RULES]);
    assert.equal(run.status, 0, run.output);
    assert.match(run.output, /SUCCESS: 7 rules found/);
  });

  it('promtool test rules passes mirrornet-rules.test.yml (each alert fires when broken, and not when healthy)', function () {
    need(this, missingCommand('promtool', 'prometheus'));
    const run = promtool(['test', 'rules', 'mirrornet-rules.test.yml']);
    assert.equal(run.status, 0, run.output);
    assert.match(run.output, /SUCCESS/);
  });

  it('has the alerts of the issue, each with a severity, a summary, a description and a runbook', function () {
    const rules = alertRules();
    assert.deepEqual(
      rules.map((r) => r.alert),
      ALERTS,
    );
    for (const r of rules) {
      assert.match(r.labels?.['severity'] ?? '', /^(warning|critical)$/, r.alert);
      assert.deepEqual(Object.keys(r.annotations ?? {}).sort(), ['description', 'runbook', 'summary'], r.alert);
    }
  });

  it("every alert's summary and description name the site, and the instance unless it is about the whole site", function () {
    for (const r of alertRules()) {
      for (const key of ['summary', 'description']) {
        const text = r.annotations?.[key] ?? '';
        assert.match(text, /\{\{ \$labels\.site \}\}/, `${r.alert} ${key}`);
        if (r.alert !== 'MirrornetSiteRevisionSkew') assert.match(text, /\{\{ \$labels\.instance \}\}/, `${r.alert} ${key}`);
      }
    }
  });

  it('the unit tests check every alert, both firing and silent', function () {
    const checks = rulesTest().tests.flatMap((t) => t.alert_rule_test);
    const firing = [...new Set(checks.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname))];
    const silent = [...new Set(checks.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname))];
    assert.deepEqual(firing.sort(), [...ALERTS].sort());
    assert.deepEqual(silent.sort(), [...ALERTS].sort());
  });
});
