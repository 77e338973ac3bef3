// The monitoring files of agent/deploy as the tests see them: the alerting rules, their promtool unit tests and
// the Grafana dashboard, the PromQL expressions in them, the metric names those use, and promtool to run.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const PROMETHEUS_DIR = fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url));
export const RULES = `${PROMETHEUS_DIR}mirrornet-rules.yml`;
const RULES_TEST = `${PROMETHEUS_DIR}mirrornet-rules.test.yml`;
const DASHBOARD = fileURLToPath(new URL('../../../deploy/grafana/mirrornet-dashboard.json', import.meta.url));

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const doc = parseYaml(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

interface RulesTest {
  tests: { input_series: { series: string }[]; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}

export function rulesTest(): RulesTest {
  return parseYaml(readFileSync(RULES_TEST, 'utf8')) as RulesTest;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { type: string; uid: string } }[];
}

export interface Dashboard {
  schemaVersion: number;
  uid: string;
  templating: { list: { name: string; type: string; query: unknown; datasource?: { uid: string } }[] };
  panels: Panel[];
}

export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

/** The metric names an expression (or a promtool input series) uses: the agent's own, and Prometheus's `up`. */
export function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(mirrornet_\w+|up)\b/g)].map((m) => m[1]!);
}

/** promtool with `args` in `cwd`: its exit status and what it printed (stdout and stderr). */
export function promtool(args: string[], cwd: string = PROMETHEUS_DIR): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}
