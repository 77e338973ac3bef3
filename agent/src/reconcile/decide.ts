// What a tick does about the revision its source offers, decided holding only the repository lock (fetch,
// verify, validate: no host change): keep the applied revision true, refuse or block the new one, apply it,
// or — while the site is suspended — hold: the new revision is not even fetched, and drift is only reported.
import type { Role } from '../desired/types.js';
import { SourceError, userMessageOf } from '../errors.js';
import type { Guardrails } from '../model/schema.js';
import { redactText } from '../redact.js';
import { AGENT_VERSION } from '../version.js';
import { loadApplied, type Applied } from './applied.js';
import { judgeRemovals } from './fleet-guard.js';
import type { RevisionSource } from './source.js';
import type { AgentState, RefusalCode } from './state.js';

export type Decision =
  /** Nothing new (or the source cannot be reached: `unreachable` says why): heal or report drift against the applied revision. */
  | { kind: 'keep'; revision: string; applied: Applied; unreachable?: string }
  /** The site is suspended: nothing new is applied and drift is only reported; `offered` is what the source has. */
  | { kind: 'hold'; revision: string; offered: string; applied?: Applied }
  /** The remote's revision was refused before and nothing is applied: nothing to do. */
  | { kind: 'refused'; revision: string; reason: string; code?: RefusalCode }
  /** Refuse the new revision and record why; `code` agent-too-old: it needs a newer mirrornet. */
  | { kind: 'refuse'; revision: string; reason: string; code?: RefusalCode }
  /** A guardrail (the fleet-wide removal limits) blocks the new revision: nothing applied, say why once. */
  | { kind: 'block'; revision: string; reasons: string[] }
  /** Apply the new revision, judged by `guardrails` (those in force); `applied` is the revision applied before it. */
  | { kind: 'apply'; revision: string; next: Applied; guardrails?: Guardrails; applied?: Applied };

export interface DecideContext {
  site: string;
  roles: Role[];
  stateDir: string;
  source: RevisionSource;
  /** Whether the site is suspended now (steering from the operators). */
  suspended: boolean;
  step: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  /** Told the revision the source offers, as soon as it is known. */
  seen: (revision: string) => void;
}

/** What to do about the remote's revision, given the state `before`. */
export async function decide(before: AgentState, ctx: DecideContext): Promise<Decision> {
  // fetch: a cheap remote check first
  const applied = await loadApplied(ctx.stateDir, before.appliedRevision);
  let revision: string;
  try {
    revision = await ctx.step('fetch', () => ctx.source.remoteRevision());
  } catch (err) {
    // A source that does not answer (a registry that is down) leaves the applied revision in place, still kept true.
    if (applied && before.appliedRevision && err instanceof SourceError && err.unreachable) {
      // Suspended, the applied revision's drift is only reported, whether the source answers or not.
      if (ctx.suspended) return { kind: 'hold', revision: before.appliedRevision, offered: before.appliedRevision, applied };
      return { kind: 'keep', revision: before.appliedRevision, applied, unreachable: redactText(userMessageOf(err)) };
    }
    throw err;
  }
  ctx.seen(revision);
  if (ctx.suspended) return { kind: 'hold', revision: before.appliedRevision ?? revision, offered: revision, ...(applied ? { applied } : {}) };
  // Nothing new (or the new revision was refused already): keep the applied revision true.
  // A refusal holds for what was refused: the same revision offered anew (a bundle republished) is looked at again,
  // and so is a revision refused by another version of mirrornet (an agent upgraded for it takes it at once).
  const { refused } = before;
  const offer = ctx.source.offer?.();
  const refusedAlready = refused?.revision === revision && refused.offer === offer && refused.agentVersion === AGENT_VERSION;
  // The applied revision offered as another bundle (a rollback to it, or it signed again) is taken again: what
  // it says of the order (a rollback's floor) must be kept with it.
  const reoffered = offer !== undefined && applied?.origin !== undefined && offer !== applied.origin.digest;
  if (applied && ((revision === before.appliedRevision && !reoffered) || refusedAlready)) return { kind: 'keep', revision, applied };
  if (!applied && refusedAlready) return { kind: 'refused', revision, reason: refused.reason, ...(refused.code ? { code: refused.code } : {}) };
  // fetch the rest, verify, and validate + compile (git) or take the site's layer (bundle)
  const evaluation = await ctx.source.load(revision, { site: ctx.site, roles: ctx.roles, applied, step: ctx.step });
  if ('refused' in evaluation) return { kind: 'refuse', revision, reason: evaluation.refused };
  if ('outdated' in evaluation) return { kind: 'refuse', revision, reason: `${evaluation.outdated}: upgrade mirrornet on this host`, code: 'agent-too-old' };
  if (!evaluation.valid) {
    const first = evaluation.errors
      .slice(0, 3)
      .map((e) => `${e.file}:${e.line} ${e.rule}`)
      .join('; ');
    return { kind: 'refuse', revision, reason: `the revision is invalid (${evaluation.errorCount} errors: ${first}); run \`mirrornet validate\` on it` };
  }
  // The fleet-wide guardrail, before anything is planned: the sites and links this revision removes,
  // judged by the limits of the revision applied before it (a first revision has nothing to compare).
  const removals = applied?.outline && evaluation.outline ? judgeRemovals(applied.outline, evaluation.outline, applied.guardrails) : undefined;
  if (removals?.trips.length) return { kind: 'block', revision, reasons: removals.trips.map((t) => t.message) };
  if ('compileError' in evaluation) return { kind: 'refuse', revision, reason: evaluation.compileError };
  const { desired, guardrails, notifications, area, outline, origin } = evaluation;
  // The guardrails in force are those of the revision applied last: a commit cannot loosen the
  // guardrails that judge it (a change to them takes effect one revision later).
  const enforced = applied?.guardrails ?? guardrails;
  return {
    kind: 'apply',
    revision,
    next: {
      desired,
      ...(guardrails ? { guardrails } : {}),
      ...(notifications ? { notifications } : {}),
      ...(area ? { area } : {}),
      ...(outline ? { outline } : {}),
      ...(origin ? { origin } : {}),
    },
    ...(enforced ? { guardrails: enforced } : {}),
    ...(applied ? { applied } : {}),
  };
}
