// A retired site's last step. Its retiring revision kept only the uplink (the tunnels and routes to the sites
// it links to directly), so its agents could report retired over it; once that report was delivered, the
// agent removes the uplink through the same engine path as any revision, with a desired state that keeps
// nothing, and records it. No second teardown code: reconcileHost plans, guards and applies it.
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import { redactText } from '../redact.js';
import type { Role } from '../desired/types.js';
import { loadApplied } from './applied.js';
import { keepNothing, reconcileHost, type HostDeps } from './engine.js';
import type { StateStore } from './state.js';

export interface UplinkContext {
  site: string;
  roles: Role[];
  store: StateStore;
  deps: HostDeps;
  log: Logger;
  remoteAddress: () => Promise<string | undefined>;
}

/** Under the apply lock: true when the uplink is gone (now or before); false leaves it for a later call. */
export async function removeUplink(ctx: UplinkContext): Promise<boolean> {
  const state = await ctx.store.load();
  if (!state.retired) return false;
  if (state.retired.uplinkRemoved) return true;
  const { revision } = state.retired;
  const applied = await loadApplied(ctx.store.dir, revision);
  const desired = keepNothing(applied?.desired ?? { site: ctx.site, roles: ctx.roles, routes: [], wireguard: [] });
  const guardrails = applied?.guardrails;
  const outcome = await reconcileHost(
    { desired, revision, ...(guardrails ? { guardrails } : {}), remoteAddress: ctx.remoteAddress },
    ctx.deps,
    ctx.store,
    state,
  );
  if (outcome.kind !== 'applied') {
    const why = outcome.kind === 'blocked' ? outcome.refusal.reasons.join(' ') : redactText(messageOf(outcome.error));
    ctx.log.warn({ outcome: outcome.kind, why }, 'removing the retired site’s uplink did not complete; the agent tries again');
    return false;
  }
  state.retired = { ...state.retired, uplinkRemoved: new Date().toISOString() };
  await ctx.store.save(state);
  return true;
}

export interface Retirement {
  /** Report the retired host up its site tree (absent: no tree); true once delivered. `waitedOut`: the bounded wait is over. */
  report?: (waitedOut: boolean) => Promise<boolean>;
  removeUplink: () => Promise<boolean>;
  /** A gateway waits this long for its hosts to report retired before it reports its site without them. */
  waitMs: number;
  retryMs: number;
  /** One attempt only (`--once`). */
  once?: boolean;
  /** The agent is stopping (a signal): give up; the next start finishes. */
  stopped?: () => boolean;
  now?: () => number;
}

/**
 * After the retired tick: report until the report is delivered, then remove the uplink (retrying both while
 * either fails, since the uplink is what carries the report). True once the uplink is gone.
 */
export async function finishRetirement(r: Retirement): Promise<boolean> {
  const now = r.now ?? Date.now;
  const until = now() + r.waitMs;
  for (;;) {
    if (r.stopped?.()) return false;
    const delivered = r.report ? await r.report(now() > until) : true;
    if (delivered && (await r.removeUplink())) return true;
    if (r.once) return false;
    await new Promise((resolve) => setTimeout(resolve, r.retryMs).unref());
  }
}
