// Whether the agent makes progress, and where it is stuck when it does not. The loop marks what runs (its
// steps, the host commands and hooks they start, the wait for the lock) in an Activity; HealthWatch turns that,
// the time since a reconcile last completed and whether the state can be read into one verdict, which
// /healthz answers, the stall gauge shows, the log says once when a stall begins and once when it ends, and
// the drift channel hears as agent-stalled / agent-recovered.
import type { Logger } from 'pino';
import { userMessageOf } from '../errors.js';
import type { Exec } from '../host/exec.js';
import { redactText } from '../redact.js';
import type { AgentMetrics } from './metrics.js';
import type { AgentState, StateStore } from './state.js';
import { AGENT_VERSION } from '../version.js';

export interface Health {
  ok: boolean;
  /** Why not, in words: what is stuck and for how long, or why the state cannot be read. */
  reason?: string;
  /** What is stuck, from a short list (the stall gauge's label): a step, `hook <name>`, `state` or `idle`. */
  step?: string;
  /** Healthy, but worth saying on /healthz: the revision offered needs a newer mirrornet (the sentence why). */
  warning?: string;
}

interface Running {
  /** Bounded (a metric label): a step name or `hook <name>`. */
  label: string;
  /** For people: `hook dragonfly-restart`, ``command `ip route replace ...` ``, `validate`. */
  detail: string;
  since: number;
}

/** What the loop is doing now: nested activities (a step, a command inside it); the newest running one is the innermost. */
export class Activity {
  private readonly running = new Set<Running>();

  constructor(private readonly now: () => number) {}

  /** Marks `label` as running until the returned function is called (calling it twice is harmless). */
  begin(label: string, detail = label): () => void {
    const entry: Running = { label, detail, since: this.now() };
    this.running.add(entry);
    return () => void this.running.delete(entry);
  }

  /** The innermost activity still running. */
  current(): Running | undefined {
    let last: Running | undefined;
    for (const r of this.running) last = r;
    return last;
  }
}

/**
 * `exec`, with every command it runs marked in `activity`: a reload/restart hook by the name of its flag, as
 * the provider that runs it says (`hook dragonfly-restart`), any other command under the label of its step.
 */
export function trackedExec(exec: Exec, activity: Activity): Exec {
  return {
    ...(exec.netns ? { netns: exec.netns } : {}),
    async run(cmd, args, opts) {
      const hook = opts?.hook;
      const end = hook
        ? activity.begin(`hook ${hook}`)
        : activity.begin(activity.current()?.label ?? 'command', `command \`${redactText([cmd, ...args].join(' ')).slice(0, 120)}\``);
      try {
        return await exec.run(cmd, args, opts);
      } finally {
        end();
      }
    },
  };
}

export interface HealthWatchOptions {
  site: string;
  /** The reconcile interval; without one (a single run) only the state is judged. */
  intervalMs?: number;
  now: () => number;
  store: Pick<StateStore, 'load'>;
  activity: Activity;
  metrics: Pick<AgentMetrics, 'stalled'>;
  log: Logger;
  /** The drift channel: a stall began (agent-stalled) or ended (agent-recovered); `step` is what was stuck. */
  report: (kind: 'agent-stalled' | 'agent-recovered', message: string, step: string) => void;
}

/** The state file is read at most this often for /healthz (a flood of probes costs no more reads). */
const STATE_CHECK_MS = 1000;

const seconds = (ms: number): number => Math.round(ms / 1000);

export class HealthWatch {
  private lastCompleted: number;
  /** The stall going on: what was stuck when it began, what is stuck now, since when. */
  private stall: { first: string; step: string; since: number } | undefined;
  private stateRead: { at: number; error: string | undefined; outdated?: string } | undefined;
  private reading: Promise<string | undefined> | undefined;

  constructor(private readonly o: HealthWatchOptions) {
    this.lastCompleted = o.now();
    o.metrics.stalled.set({ step: 'none' }, 0);
  }

  /** A reconcile ended (whatever its result): the agent is making progress. */
  tickCompleted(): void {
    this.lastCompleted = this.o.now();
  }

  /** The verdict now; a change from healthy to stalled or back is logged, counted and reported once. */
  async check(): Promise<Health> {
    const stateError = await this.stateError();
    const now = this.o.now();
    const health = this.verdict(stateError, now);
    this.record(health, now);
    const outdated = this.stateRead?.outdated;
    return health.ok && outdated ? { ...health, warning: outdated } : health;
  }

  /** Checks on a timer too, so a stall reaches the log and chat when nobody probes /healthz. Returns the stop. */
  watch(): () => void {
    const every = Math.max(1000, Math.min(30_000, Math.floor((this.o.intervalMs ?? 60_000) / 2)));
    const timer = setInterval(() => {
      this.check().catch((err: unknown) => this.o.log.warn({ err: { message: userMessageOf(err) } }, 'health check failed'));
    }, every);
    timer.unref();
    return () => clearInterval(timer);
  }

  private verdict(stateError: string | undefined, now: number): Health {
    if (stateError !== undefined) return { ok: false, step: 'state', reason: `the state cannot be read: ${stateError}` };
    const { intervalMs } = this.o;
    const since = now - this.lastCompleted;
    if (intervalMs === undefined || since <= 2 * intervalMs) return { ok: true };
    const waited = `no reconcile has completed for ${seconds(since)} s (interval ${seconds(intervalMs)} s)`;
    const current = this.o.activity.current();
    if (!current) return { ok: false, step: 'idle', reason: `${waited} and none is running` };
    return { ok: false, step: current.label, reason: `${current.detail} running for ${seconds(now - current.since)} s; ${waited}` };
  }

  private record(health: Health, now: number): void {
    const { metrics, log, site } = this.o;
    const before = this.stall;
    if (!health.ok) {
      const step = health.step ?? 'idle';
      if (before?.step !== step) {
        metrics.stalled.reset();
        metrics.stalled.set({ step }, 1);
      }
      if (before) {
        before.step = step;
        return;
      }
      this.stall = { first: step, step, since: now };
      log.warn({ step, reason: health.reason }, 'agent stalled: /healthz answers 503');
      this.o.report('agent-stalled', `${site} is stalled: ${health.reason}.`, step);
      return;
    }
    if (!before) return;
    this.stall = undefined;
    metrics.stalled.reset();
    metrics.stalled.set({ step: 'none' }, 0);
    log.info({ step: before.first, stalledForMs: now - before.since }, 'agent recovered: /healthz answers 200');
    this.o.report('agent-recovered', `${site} makes progress again after ${seconds(now - before.since)} s stalled at ${before.first}.`, before.first);
  }

  /** Why the state cannot be read (undefined: it can), from a read at most STATE_CHECK_MS old. */
  private stateError(): Promise<string | undefined> {
    const read = this.stateRead;
    if (read && this.o.now() - read.at < STATE_CHECK_MS) return Promise.resolve(read.error);
    this.reading ??= this.o.store.load().then(
      (state) => this.stateReadDone(undefined, outdatedOf(state)),
      (err: unknown) => this.stateReadDone(redactText(userMessageOf(err))),
    );
    return this.reading;
  }

  private stateReadDone(error: string | undefined, outdated?: string): string | undefined {
    this.stateRead = { at: this.o.now(), error, ...(outdated ? { outdated } : {}) };
    this.reading = undefined;
    return error;
  }
}

/** The refusal of a revision that needs a newer mirrornet than this one, while it holds (none applied since). */
function outdatedOf(state: AgentState): string | undefined {
  const r = state.refused;
  return r?.code === 'agent-too-old' && r.agentVersion === AGENT_VERSION && r.revision !== state.appliedRevision ? r.reason : undefined;
}
