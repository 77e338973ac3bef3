// Prometheus metrics of one agent, in their own registry (no module-level singleton).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface AgentMetrics {
  registry: Registry;
  duration: Histogram<string>;
  reconciles: Counter<'result'>;
  errors: Counter<'step'>;
  drift: Gauge<'component'>;
  lastReconcile: Gauge<string>;
  /** 1 with what is stuck while the agent is stalled (reconcile/health.ts); {step="none"} 0 otherwise. */
  stalled: Gauge<'step'>;
  revision(rev: string): void;
}

export function createMetrics(): AgentMetrics {
  const registry = new Registry();
  const duration = new Histogram({
    name: 'mirrornet_reconcile_duration_seconds',
    help: 'Duration of one reconcile.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const reconciles = new Counter({ name: 'mirrornet_reconciles_total', help: 'Reconciles by result.', labelNames: ['result'] as const, registers: [registry] });
  const errors = new Counter({ name: 'mirrornet_errors_total', help: 'Errors by reconcile step.', labelNames: ['step'] as const, registers: [registry] });
  const drift = new Gauge({
    name: 'mirrornet_drift',
    help: 'Resources that differ from the last applied revision, per component.',
    labelNames: ['component'] as const,
    registers: [registry],
  });
  const lastReconcile = new Gauge({ name: 'mirrornet_last_reconcile_timestamp_seconds', help: 'When the last reconcile ended.', registers: [registry] });
  const stalled = new Gauge({
    name: 'mirrornet_agent_stalled',
    help:
      'Whether the agent is stalled (no reconcile completed within two intervals, or the state cannot be read), ' +
      'with what is stuck: a step, hook <name>, state or idle.',
    labelNames: ['step'] as const,
    registers: [registry],
  });
  const applied = new Gauge({
    name: 'mirrornet_last_applied_revision_info',
    help: 'The last applied revision (value 1).',
    labelNames: ['revision'] as const,
    registers: [registry],
  });
  return {
    registry,
    duration,
    reconciles,
    errors,
    drift,
    lastReconcile,
    stalled,
    revision(rev) {
      applied.reset();
      applied.set({ revision: rev }, 1);
    },
  };
}
