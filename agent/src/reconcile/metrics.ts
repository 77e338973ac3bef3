// Prometheus metrics of one agent, in their own registry (no module-level singleton). The alerting rules and the
// Grafana dashboard over them are in agent/deploy/ (agent/test/deploy checks every name they use is one of these).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentEvent } from './events.js';
import type { RevisionSource } from './source.js';
import type { RefusalCode } from './state.js';

/** Who the agent is (mirrornet_agent_info: rules and dashboards join on it for the site) and its interval. */
interface AgentAbout {
  site: string;
  roles: readonly string[];
  version: string;
  intervalMs: number;
}

/** What the reconcile loop last returned (reconcile/loop.ts TickResult): failed, with a step, or not. */
interface LastResult {
  kind: string;
  step?: string;
}

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
  /** The site's suspension as this agent holds it: who suspended it, or undefined. */
  suspended(by: string | undefined): void;
  /**
   * The revision refused last (or blocked by a guardrail), until a revision is applied; undefined: none.
   * `code` agent-too-old: it needs a newer mirrornet (mirrornet_agent_outdated).
   */
  refused(revision: string | undefined, code?: RefusalCode): void;
  /** The source offers `revision` now: mirrornet_revision_refused is 1 only while that is the refused one. */
  offered(revision: string): void;
  /** An event of the reconcile loop: a refusal sets mirrornet_revision_refused, an applied revision clears it. */
  observe(event: AgentEvent): void;
  /** Where mirrornet_last_reconcile_failed reads the loop's last result from, at each scrape. */
  follow(last: () => LastResult | undefined): void;
}

export function createMetrics(about?: AgentAbout): AgentMetrics {
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
  const lastReconcile = new Gauge({
    name: 'mirrornet_last_reconcile_timestamp_seconds',
    help: "When the last reconcile ended (the agent's start until the first one ends).",
    registers: [registry],
  });
  lastReconcile.set(Date.now() / 1000);
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
  const info = new Gauge({
    name: 'mirrornet_agent_info',
    help: 'The site this agent belongs to, its roles (comma-separated) and its version (value 1).',
    labelNames: ['site', 'roles', 'version'] as const,
    registers: [registry],
  });
  const interval = new Gauge({ name: 'mirrornet_reconcile_interval_seconds', help: 'How often the agent reconciles (--interval).', registers: [registry] });
  if (about) {
    info.set({ site: about.site, roles: about.roles.join(','), version: about.version }, 1);
    interval.set(about.intervalMs / 1000);
  }
  const refusal = new Gauge({
    name: 'mirrornet_revision_refused',
    help:
      'The newest revision offered to the agent, with value 1 while it is refused (invalid, unsigned, or blocked by a guardrail) ' +
      'and the agent keeps the revision applied before; value 0 without a revision otherwise.',
    labelNames: ['revision'] as const,
    registers: [registry],
  });
  const outdated = new Gauge({
    name: 'mirrornet_agent_outdated',
    help:
      'Whether the revision the source offers needs a newer mirrornet than this agent (policies/agent.yaml minAgentVersion or ' +
      "schemaVersion, a bundle's minimum): value 1 with the revision, while the agent keeps the revision applied before; 0 otherwise.",
    labelNames: ['revision'] as const,
    registers: [registry],
  });
  // As the state file has it: the revision refused last, until one is applied (state.refused); and the revision
  // the source offers now (undefined before the first fetch). The gauge is 1 while the two are the same.
  let refusedRevision: string | undefined;
  let refusedCode: RefusalCode | undefined;
  let appliedRevision: string | undefined;
  let offeredRevision: string | undefined;
  const showRefusal = (): void => {
    refusal.reset();
    outdated.reset();
    const offered = offeredRevision ?? refusedRevision;
    if (refusedRevision && offered === refusedRevision && appliedRevision !== refusedRevision) {
      refusal.set({ revision: refusedRevision }, 1);
      if (refusedCode === 'agent-too-old') outdated.set({ revision: refusedRevision }, 1);
      else outdated.set(0);
    } else {
      refusal.set(0);
      outdated.set(0);
    }
  };
  const refused = (revision: string | undefined, code?: RefusalCode): void => {
    refusedRevision = revision;
    refusedCode = revision ? code : undefined;
    showRefusal();
  };
  showRefusal();
  let last: () => LastResult | undefined = () => undefined;
  new Gauge({
    name: 'mirrornet_last_reconcile_failed',
    help:
      'Whether the last reconcile failed (value 1, with the step it failed at), ' +
      '{step="none"} 0 otherwise (applied, in sync, drift, refused, blocked, or waiting for the host\'s lock: another agent or mirrornet apply held it).',
    labelNames: ['step'] as const,
    registers: [registry],
    collect() {
      const result = last();
      this.reset();
      if (result?.kind === 'failed' && result.step !== 'lock') this.set({ step: result.step ?? 'reconcile' }, 1);
      else this.set({ step: 'none' }, 0);
    },
  });
  const suspension = new Gauge({
    name: 'mirrornet_site_suspended',
    help: "Whether the operators suspended this agent's site (value 1, with who did), or 0: a suspended site applies no new revision and heals no drift.",
    labelNames: ['by'] as const,
    registers: [registry],
  });
  suspension.set(0);
  return {
    registry,
    suspended(by) {
      suspension.reset();
      if (by === undefined) suspension.set(0);
      else suspension.set({ by }, 1);
    },
    duration,
    reconciles,
    errors,
    drift,
    lastReconcile,
    stalled,
    revision(rev) {
      appliedRevision = rev;
      applied.reset();
      applied.set({ revision: rev }, 1);
      showRefusal();
    },
    refused,
    offered(revision) {
      offeredRevision = revision;
      showRefusal();
    },
    observe(event) {
      // A guardrail that keeps drift from being healed (origin drift) refuses no revision.
      if ((event.kind === 'revision-refused' || event.kind === 'guardrail-blocked') && event.origin !== 'drift') {
        refused(event.revision, event.component === 'agent-version' ? 'agent-too-old' : undefined);
      }
      if (event.kind === 'applied') refused(undefined);
    },
    follow(read) {
      last = read;
    },
  };
}

/** `source`, telling `metrics` each revision it offers (so a refusal the source no longer offers stops counting). */
export function reportOffers(source: RevisionSource, metrics: Pick<AgentMetrics, 'offered'>): RevisionSource {
  return {
    async remoteRevision() {
      const revision = await source.remoteRevision();
      metrics.offered(revision);
      return revision;
    },
    load: (revision, ctx) => source.load(revision, ctx),
    remoteHost: () => source.remoteHost(),
    ...(source.offer ? { offer: () => source.offer?.() } : {}),
  };
}
