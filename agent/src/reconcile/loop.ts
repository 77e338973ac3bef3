// The agent's reconcile, as a list of named steps (after Flux's source-controller):
// fetch -> verify -> validate -> compile -> read -> diff -> guard -> apply -> record -> report.
// A new revision is applied whole; between revisions, drift is healed or only reported per component.
// Fetching and validating hold only the repository lock; the apply lock is held from plan to record.
import type { Logger } from 'pino';
import type { Role } from '../desired/types.js';
import type { Guardrails } from '../model/schema.js';
import { MirrornetError, userMessageOf } from '../errors.js';
import { redactText } from '../redact.js';
import { AGENT_VERSION } from '../version.js';
import { guardrailTraits } from '../providers/registry.js';
import type { Change, ProviderId } from '../providers/types.js';
import { addressOf } from '../source/git.js';
import { loadApplied, saveApplied, type Applied } from './applied.js';
import { decide } from './decide.js';
import { applyRevision, pendingChanges, planHost, reconcileHost, type HostDeps, type HostPlan } from './engine.js';
import { driftDiff } from './file-diff.js';
import { agentEvent, fingerprint, type AgentEvent, type EventKind, type EventSink } from './events.js';
import { Activity, HealthWatch, trackedExec } from './health.js';
import type { AgentMetrics } from './metrics.js';
import type { RevisionSource } from './source.js';
import { removeUplink } from './retire.js';
import { LockedError, type AgentState, type RefusalCode, type StateStore } from './state.js';

export interface AgentOptions {
  site: string;
  roles: Role[];
  /** The reconcile interval: with it, health judges a stall (no reconcile completed within two intervals). */
  intervalMs?: number;
  /** The clock of the health watch (tests drive it). */
  now?: () => number;
  /** Whether the site is suspended now: no new revision is applied and drift is not healed (it is still reported). */
  suspended?: () => boolean;
}

export type TickResult =
  | { kind: 'applied'; revision: string; changes: number }
  | { kind: 'in-sync'; revision: string }
  | { kind: 'drift'; revision: string; healed: string[]; alerted: string[] }
  | { kind: 'refused'; revision: string; reason: string }
  /** The revision needs a newer mirrornet (policies/agent.yaml, a bundle's minimum): refused, the applied one kept. */
  | { kind: 'outdated'; revision: string; reason: string }
  | { kind: 'blocked'; revision: string; reasons: string[] }
  | { kind: 'failed'; revision: string; step: string; reason: string }
  /** The site is suspended: `revision` stays applied (drift only reported: `drifted`), `offered` waits. */
  | { kind: 'suspended'; revision: string; offered: string; drifted: string[] }
  /** The site retired at `revision`: everything this agent created is gone but its uplink (removeUplink); it does nothing more. */
  | { kind: 'retired'; revision: string };

type DriftMode = 'alert' | 'heal';

/** What a tick returns once the agent is stopping (no event, no state change). */
const STOPPED: TickResult = { kind: 'failed', revision: 'unknown', step: 'stop', reason: 'the agent is stopping' };

/** Times a tick starts over because the state changed while it validated (another agent or `mirrornet apply`). */
const MAX_ATTEMPTS = 3;
const LOCK_WAIT_MS = 60_000;

class ReconcileError extends MirrornetError {}

export class Agent {
  private running: Promise<TickResult> | undefined;
  private again = false;
  private stopping = false;
  lastResult: TickResult | undefined;
  ready = false;
  /** What the loop is doing now (steps, commands, hooks, lock waits). */
  readonly activity: Activity;
  /** Whether the agent makes progress: /healthz, the stall gauge, the log and agent-stalled / agent-recovered events. */
  readonly health: HealthWatch;
  private readonly deps: HostDeps;

  constructor(
    readonly opts: AgentOptions,
    private readonly source: RevisionSource,
    private readonly store: StateStore,
    deps: HostDeps,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
    private readonly emit: EventSink = () => undefined,
    /** Told the applied revision's policies at start and after each apply (e.g. the chat routing). */
    private readonly onApplied: (applied: Applied) => void = () => undefined,
  ) {
    const now = opts.now ?? Date.now;
    this.activity = new Activity(now);
    this.deps = { ...deps, exec: trackedExec(deps.exec, this.activity) };
    this.health = new HealthWatch({
      site: opts.site,
      ...(opts.intervalMs !== undefined ? { intervalMs: opts.intervalMs } : {}),
      now,
      store,
      activity: this.activity,
      metrics,
      log,
      report: (kind, message, step) => this.event(kind, this.lastResult?.revision ?? 'unknown', message, { component: step, origin: 'drift' }),
    });
  }

  private started = false;

  /** Load the last applied revision's policies (for reporting) before the first tick. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const applied = await loadApplied(this.store.dir);
    if (applied) this.onApplied(applied);
  }

  /** Run one reconcile; a call while one runs is folded into one more run right after it. None once stopping. */
  async tick(trigger: string): Promise<TickResult> {
    await this.start();
    if (this.stopping) return STOPPED;
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let result: TickResult;
      do {
        this.again = false;
        result = await this.reconcileOnce(trigger);
      } while (this.again);
      return result;
    })();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /**
   * The agent is stopping: no reconcile starts from now on, and the one that runs stops before it takes the
   * apply lock (nothing is applied after the stop). Resolves when it has ended.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.again = false;
    await this.running?.catch(() => undefined);
  }

  private event(kind: EventKind, revision: string, message: string, extra: Partial<AgentEvent> = {}): void {
    const ev = agentEvent(kind, this.opts.site, revision, message, extra);
    this.log.info({ event: ev.kind, revision: ev.revision, component: ev.component, fingerprint: ev.fingerprint }, 'event');
    try {
      this.emit(ev);
    } catch (err) {
      this.log.warn({ err }, 'event sink failed');
    }
  }

  private driftEvent(kind: EventKind, revision: string, message: string, extra: Partial<AgentEvent> = {}): void {
    this.event(kind, revision, message, { ...extra, origin: 'drift' });
  }

  private async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    const done = this.activity.begin(name);
    try {
      return await fn();
    } catch (err) {
      this.metrics.errors.inc({ step: name });
      throw Object.assign(err as Error, { step: name });
    } finally {
      done();
      this.log.debug({ step: name, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'step done');
    }
  }

  /** `fn` holding `lock` (waiting up to LOCK_WAIT_MS); the wait shows as the activity `lock`. */
  private locked<T>(lock: 'apply' | 'repository', fn: () => Promise<T>): Promise<T> {
    const waiting = this.activity.begin('lock', `waiting for the ${lock} lock`);
    return this.store
      .withLock(
        () => {
          waiting();
          return fn();
        },
        { lock, waitMs: LOCK_WAIT_MS },
      )
      .finally(waiting);
  }

  private providerIds(): ProviderId[] {
    return this.deps.providers.map((p) => p.id);
  }

  private async reconcileOnce(trigger: string): Promise<TickResult> {
    const end = this.metrics.duration.startTimer();
    const log = this.log.child({ trigger });
    let revision = 'unknown';
    try {
      const result = await this.reconcile(log, (r) => (revision = r));
      this.lastResult = result;
      this.metrics.reconciles.inc({ result: result.kind });
      if (['applied', 'in-sync', 'drift', 'suspended', 'retired'].includes(result.kind)) this.ready = true;
      return result;
    } catch (err) {
      const e = err as Error & { step?: string };
      const reason = redactText(userMessageOf(err));
      if (this.stopping) {
        // Cut short by the stop (its host commands killed): not a failure to alert on; the next start runs again.
        log.info({ reason }, 'reconcile cut short: the agent is stopping');
        return STOPPED;
      }
      if (e instanceof LockedError) {
        // Another agent (or an apply by hand) holds the host: not a failure to alert on; the next tick runs.
        log.warn({ reason }, 'host busy, reconcile skipped');
        const result: TickResult = { kind: 'failed', revision, step: 'lock', reason };
        this.lastResult = result;
        return result;
      }
      log.error({ step: e.step, err: { message: e.message } }, 'reconcile failed');
      const result: TickResult = { kind: 'failed', revision, step: e.step ?? 'reconcile', reason };
      this.event('apply-failed', revision, `Reconcile of ${this.opts.site} failed at ${result.step}: ${reason}`, { component: result.step });
      this.lastResult = result;
      this.metrics.reconciles.inc({ result: 'failed' });
      return result;
    } finally {
      end();
      this.metrics.lastReconcile.set(Date.now() / 1000);
      this.health.tickCompleted();
    }
  }

  /**
   * Decide holding only the repository lock (fetch, verify, validate: a long validation never keeps `mirrornet
   * apply` or another agent from the host), then act under the apply lock, after checking that the state the
   * decision was made on still holds; when another agent or `mirrornet apply` changed it meanwhile, start over.
   */
  private async reconcile(log: Logger, seen: (revision: string) => void): Promise<TickResult> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.step('state', () => this.store.load());
      // A retired site's agent touches nothing any more, whatever a source offers.
      if (before.retired) return { kind: 'retired', revision: before.retired.revision };
      const decision = await this.locked('repository', () =>
        decide(before, {
          site: this.opts.site,
          roles: this.opts.roles,
          stateDir: this.store.dir,
          source: this.source,
          suspended: this.opts.suspended?.() ?? false,
          step: (name, fn) => this.step(name, fn),
          seen,
        }),
      );
      if (decision.kind === 'refused')
        return { kind: decision.code === 'agent-too-old' ? 'outdated' : 'refused', revision: decision.revision, reason: decision.reason };
      const result = await this.locked('apply', async (): Promise<TickResult | undefined> => {
        if (this.stopping) return STOPPED;
        const state = await this.step('state', () => this.store.load());
        if (
          state.appliedRevision !== before.appliedRevision ||
          state.refused?.revision !== before.refused?.revision ||
          state.refused?.offer !== before.refused?.offer
        )
          return undefined;
        // A suspension that came while the revision was validated holds it too: nothing is applied or healed.
        if (this.opts.suspended?.() && (decision.kind === 'keep' || decision.kind === 'apply')) {
          return this.holdTick(state, decision.revision, decision.applied, log);
        }
        if (decision.kind === 'keep' && decision.unreachable) return this.unreachableTick(state, decision.applied, decision.unreachable, log);
        if (decision.kind === 'keep') {
          const revision = state.appliedRevision ?? decision.revision;
          return this.retiredAfter(state, revision, decision.applied, await this.driftTick(state, revision, decision.applied, log));
        }
        if (decision.kind === 'hold') return this.holdTick(state, decision.offered, decision.applied, log);
        if (decision.kind === 'refuse') return this.refuse(state, decision.revision, decision.reason, decision.code);
        if (decision.kind === 'block') return this.block(state, decision.revision, decision.reasons);
        const outcome = await this.applyRevision(state, decision.revision, decision.next, decision.guardrails, log);
        return this.retiredAfter(state, decision.revision, decision.next, outcome);
      });
      if (result) return result;
      log.info({ attempt }, 'the state changed while this agent validated (another agent or mirrornet apply): starting over');
      if (attempt >= MAX_ATTEMPTS) {
        const sentence = `the state changed ${MAX_ATTEMPTS} times while this agent validated (another agent or mirrornet apply); the next tick tries again`;
        throw Object.assign(new ReconcileError(sentence), { step: 'lock' });
      }
    }
  }

  /**
   * A retiring site (its desired state says so) whose teardown is complete — the revision applied or in sync,
   * and a fresh read finds nothing of the inventory left to remove (a cloud route table it only programmed
   * stays listed, empty of its routes) — is retired: recorded in the state, said once (`site-retired`), and
   * from then on every tick only returns `retired`. Otherwise the tick's result stands (a later tick finishes it).
   */
  private async retiredAfter(state: AgentState, revision: string, applied: Applied, result: TickResult): Promise<TickResult> {
    if (!applied.desired.retiring || (result.kind !== 'applied' && result.kind !== 'in-sync')) return result;
    const left = await this.step('read', () => planHost(applied.desired, revision, this.deps, state));
    if (pendingChanges(left).length > 0) return result;
    state.retired = { revision, at: new Date().toISOString() };
    await this.store.save(state);
    this.event(
      'site-retired',
      revision,
      `${this.opts.site} retired at ${revision.slice(0, 12)}: this agent removed everything it had created but its uplink, which it removes ` +
        'once this report is delivered, and stops; its file may now be deleted.',
    );
    return { kind: 'retired', revision };
  }

  /** A retired site's last step, once its retired report was delivered (retire.ts): true when the uplink is gone. */
  async removeUplink(): Promise<boolean> {
    const ctx = { site: this.opts.site, roles: this.opts.roles, store: this.store, deps: this.deps, log: this.log };
    return this.locked('apply', () => removeUplink({ ...ctx, remoteAddress: () => this.remoteAddress() }));
  }

  private async refuse(state: AgentState, revision: string, reason: string, code?: RefusalCode): Promise<TickResult> {
    const offer = this.source.offer?.();
    const at = new Date().toISOString();
    state.refused = { revision, reason, at, ...(offer !== undefined ? { offer } : {}), ...(code ? { code } : {}), agentVersion: AGENT_VERSION };
    await this.store.save(state);
    const kept = state.appliedRevision?.slice(0, 12);
    if (code === 'agent-too-old') {
      // Said once per revision (and agent version), like any refusal: to chat, the commit status and the log.
      this.event('revision-refused', revision, `${this.opts.site}: ${reason}; it keeps ${kept ? `applying ${kept}` : 'nothing applied'}.`, {
        component: 'agent-version',
      });
      return { kind: 'outdated', revision, reason };
    }
    this.event('revision-refused', revision, `${this.opts.site} refused ${revision.slice(0, 12)}: ${reason}. It keeps ${kept ?? 'nothing'} applied.`);
    return { kind: 'refused', revision, reason };
  }

  /** A guardrail refused the revision: nothing applied; say why once, and keep the last applied revision. */
  private async block(state: AgentState, revision: string, reasons: string[], changes?: AgentEvent['changes']): Promise<TickResult> {
    this.event('guardrail-blocked', revision, `${this.opts.site} did not apply ${revision.slice(0, 12)}: ${reasons.join(' ')}`, changes ? { changes } : {});
    const offer = this.source.offer?.();
    state.refused = {
      revision,
      reason: reasons.join(' '),
      at: new Date().toISOString(),
      ...(offer !== undefined ? { offer } : {}),
      agentVersion: AGENT_VERSION,
    };
    await this.store.save(state);
    return { kind: 'blocked', revision, reasons };
  }

  /** The git remote's address (lockout protection); a resolver that does not answer within 10 s counts as no answer. */
  private async remoteAddress(): Promise<string | undefined> {
    const host = this.source.remoteHost();
    return host ? addressOf(host) : undefined;
  }

  private async applyRevision(state: AgentState, revision: string, applied: Applied, guardrails: Guardrails | undefined, log: Logger): Promise<TickResult> {
    const { desired } = applied;
    const outcome = await applyRevision(
      { desired, revision, ...(guardrails ? { guardrails } : {}), remoteAddress: () => this.remoteAddress() },
      this.deps,
      this.store,
      state,
      {
        step: (name, fn) => this.step(name, fn),
        applying: (plan) =>
          this.event('apply-started', revision, `${this.opts.site} is applying ${revision.slice(0, 12)}: ${pendingChanges(plan).length} change(s).`, {
            changes: summarize(plan),
          }),
        recording: async () => {
          this.onApplied(applied);
          // Drift reported earlier (alert mode) is gone now that the revision was applied: close it.
          for (const component of Object.keys(state.drift)) {
            this.event('drift-resolved', revision, `${this.opts.site}: ${component} matches ${revision.slice(0, 12)} again (applied).`, { component });
          }
          state.drift = {};
          await saveApplied(this.store.dir, revision, applied);
        },
      },
    );
    const { plan } = outcome;
    if (outcome.kind === 'blocked') return this.block(state, revision, outcome.refusal.reasons, summarize(plan));
    if (outcome.kind === 'failed') {
      const reason = userMessageOf(outcome.error);
      this.event('apply-failed', revision, `${this.opts.site} failed to apply ${revision.slice(0, 12)} (${outcome.provider}): ${reason}`, {
        component: outcome.provider,
        changes: summarize(plan),
      });
      return { kind: 'failed', revision, step: 'apply', reason };
    }
    this.metrics.revision(revision);
    for (const p of this.providerIds()) this.metrics.drift.set({ component: p }, 0);
    const n = pendingChanges(plan).length;
    log.info({ revision, changes: n }, 'revision applied');
    // Every new revision ends in `applied` (commit status: success), with no changes when none were needed.
    this.event(
      'applied',
      revision,
      n > 0
        ? `${this.opts.site} applied ${revision.slice(0, 12)}: ${n} change(s).`
        : `${this.opts.site} is in sync with ${revision.slice(0, 12)}: nothing to change.`,
      { changes: summarize(plan) },
    );
    return n > 0 ? { kind: 'applied', revision, changes: n } : { kind: 'in-sync', revision };
  }

  /**
   * The source cannot be reached: the applied revision stays, and is still kept true (drift handled as on any
   * tick); the drift channel says why no new revision can arrive, once per distinct reason.
   */
  private async unreachableTick(state: AgentState, applied: Applied, reason: string, log: Logger): Promise<TickResult> {
    const revision = state.appliedRevision!;
    await this.driftTick(state, revision, applied, log);
    this.driftEvent(
      'apply-failed',
      revision,
      `${this.opts.site} cannot reach its configuration source: ${reason} It keeps ${revision.slice(0, 12)} applied and keeps checking drift against it.`,
      { component: 'source' },
    );
    return { kind: 'failed', revision, step: 'fetch', reason };
  }

  /** Suspended: the applied revision's drift is reported, never healed; the offered revision waits for `mirrornet resume`. */
  private async holdTick(state: AgentState, offered: string, applied: Applied | undefined, log: Logger): Promise<TickResult> {
    const revision = state.appliedRevision ?? offered;
    if (!applied || !state.appliedRevision) return { kind: 'suspended', revision, offered, drifted: [] };
    const result = await this.driftTick(state, state.appliedRevision, applied, log, false);
    return { kind: 'suspended', revision, offered, drifted: result.kind === 'drift' ? result.alerted : [] };
  }

  private async driftTick(state: AgentState, revision: string, applied: Applied, log: Logger, heal = true): Promise<TickResult> {
    const { desired, guardrails } = applied;
    const modes = (guardrails?.drift ?? {}) as Record<string, DriftMode>;
    const healed: string[] = [];
    const alerted: string[] = [];
    let pending: Change[] = [];
    // Each component's drift is reported (once per distinct drift); those set to heal are healed through the
    // engine, under the same guardrails as a new revision, lockout included.
    const select = (plan: HostPlan): Change[] => {
      pending = pendingChanges(plan);
      const toHeal: Change[] = [];
      for (const component of this.providerIds()) {
        const changes = pending.filter((c) => c.provider === component);
        this.metrics.drift.set({ component }, changes.length);
        const fp = changes.length ? fingerprint(changes.map((c) => `${c.id}:${c.action}`).sort()) : '';
        const known = state.drift[component];
        if (changes.length && known !== fp) {
          this.driftEvent(
            'drift-detected',
            revision,
            `${this.opts.site}: ${component} drifted from ${revision.slice(0, 12)}: ${changes.map((c) => `${c.id} (${c.reason})`).join('; ')}.`,
            { component, changes: changes.map(({ provider, id, action, reason }) => ({ provider, id, action, reason })), ...diffOf(changes) },
          );
          state.drift[component] = fp;
        }
        if (changes.length && heal && (modes[guardrailTraits(component).driftKey] ?? 'alert') === 'heal') {
          toHeal.push(...changes);
          healed.push(component);
        } else if (changes.length) alerted.push(component);
        if (!changes.length && known) {
          this.driftEvent('drift-resolved', revision, `${this.opts.site}: ${component} matches ${revision.slice(0, 12)} again.`, { component });
          delete state.drift[component];
        }
      }
      return toHeal;
    };
    const outcome = await reconcileHost(
      { desired, revision, ...(guardrails ? { guardrails } : {}), remoteAddress: () => this.remoteAddress() },
      this.deps,
      this.store,
      state,
      { step: (name, fn) => this.step(name, fn), select },
    );
    if (outcome.kind === 'blocked') {
      this.driftEvent('guardrail-blocked', revision, `${this.opts.site} did not heal drift: ${outcome.refusal.reasons.join(' ')}`, {
        changes: summarize(outcome.plan),
      });
      // Not healed after all: these components are only reported.
      alerted.push(...healed.splice(0));
    } else if (outcome.kind === 'failed') {
      this.driftEvent('apply-failed', revision, `${this.opts.site} failed to heal ${outcome.provider}: ${userMessageOf(outcome.error)}`, {
        component: outcome.provider,
      });
    } else {
      // Healed: the drift is gone now; say so once.
      for (const component of healed) {
        this.metrics.drift.set({ component }, 0);
        if (state.drift[component]) {
          this.driftEvent('drift-resolved', revision, `${this.opts.site}: ${component} healed back to ${revision.slice(0, 12)}.`, { component });
          delete state.drift[component];
        }
      }
    }
    await this.store.save(state);
    if (!pending.length) return { kind: 'in-sync', revision };
    log.info({ healed, alerted }, 'drift handled');
    return { kind: 'drift', revision, healed, alerted };
  }
}

function summarize(plan: HostPlan): AgentEvent['changes'] {
  return pendingChanges(plan).map(({ provider, id, action, reason }) => ({ provider, id, action, reason }));
}

/** The bounded, masked diff of drifted files, for the drift alert (none when the changes write no file). */
function diffOf(changes: Change[]): Pick<AgentEvent, 'diff'> {
  const diff = driftDiff(changes);
  return diff ? { diff } : {};
}
