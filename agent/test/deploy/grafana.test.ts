// The Grafana dashboard of agent/deploy/grafana: a current schema, the data source and the site as variables,
// the panels the issue asks for, and PromQL that Prometheus parses in every target.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { missingCommand, need } from '../support/capabilities.js';
import { dashboard, promtool } from './deploy-files.js';

/** Grafana's variables in the targets, and what stands for them when promtool checks an expression. */
const VARIABLES: [RegExp, string][] = [
  [/\$site\b/g, '.*'],
  [/\$__rate_interval\b/g, '5m'],
];

describe('Grafana dashboard (agent/deploy/grafana)', function () {
  it('uses schema version 36 or later, with the data source and the site as template variables', function () {
    const d = dashboard();
    assert.ok(d.schemaVersion >= 36, `schemaVersion ${d.schemaVersion}`);
    assert.equal(d.uid, 'mirrornet-agents');
    const vars = d.templating.list.map((v) => ({ name: v.name, type: v.type, query: v.query }));
    assert.deepEqual(vars, [
      { name: 'datasource', type: 'datasource', query: 'prometheus' },
      { name: 'site', type: 'query', query: { query: 'label_values(mirrornet_agent_info, site)', refId: 'site' } },
    ]);
    assert.equal(d.templating.list[1]!.datasource?.uid, '${datasource}');
  });

  it('has the panels of the issue, every panel and target on the ${datasource} variable, every target filtered by $site', function () {
    const d = dashboard();
    assert.deepEqual(
      d.panels.map((p) => p.title),
      [
        'Agents reporting per site',
        'Applied revision per host',
        'Refused revisions',
        'Stalled and failing agents',
        'Drift per component',
        'Time since the last reconcile, in intervals',
        'Reconcile duration',
        'Reconciles by result',
        'Errors per step',
        "Refused requests to the agents' endpoint",
      ],
    );
    assert.deepEqual(
      d.panels.map((p) => p.id),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    for (const p of d.panels) {
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
      assert.ok(p.targets?.length, `${p.title} has targets`);
      for (const t of p.targets) {
        assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title} ${t.refId}`);
        assert.match(t.expr, /site=~"\$site"/, `${p.title} ${t.refId}`);
      }
    }
  });

  it('every target expression parses (promtool check rules, each as a recording rule)', function () {
    need(this, missingCommand('promtool', 'prometheus'));
    const rules = dashboard().panels.flatMap((p) =>
      (p.targets ?? []).map((t) => {
        let expr = t.expr;
        for (const [variable, value] of VARIABLES) expr = expr.replace(variable, value);
        assert.doesNotMatch(expr, /\$/, `${p.title} ${t.refId}: a Grafana variable this test does not know`);
        return { record: `mirrornet:dashboard_panel_${p.id}_${t.refId}`, expr };
      }),
    );
    assert.equal(rules.length, 12);
    const dir = mkdtempSync(join(tmpdir(), 'mirrornet-dashboard-'));
    try {
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, toYaml({ groups: [{ name: 'dashboard', rules }] }));
      const run = promtool(['check', 'rules', file], dir);
      assert.equal(run.status, 0, run.output);
      assert.match(run.output, /SUCCESS: 12 rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
