// What a pull request changes in policies/agent.yaml (model/compatibility.ts), for the PR comment: a head that
// needs a newer agent than the base declared is refused by every agent not yet upgraded, so the author is warned
// before merging. The fleet is assumed to run at least the base's minimum: no agent reports its version here.
import { gt as newerThan } from 'semver';
import { COMPATIBILITY_FILE } from '../../model/compatibility.js';
import type { Fleet } from '../../model/fleet.js';

/** One side's declaration; `minAgentVersion` absent: the revision declares none (any agent may apply it). */
interface Declared {
  minAgentVersion?: string;
  schemaVersion: number;
}

export interface CompatibilityChange {
  base: Declared;
  head: Declared;
  /** The head's minAgentVersion is above the base's: agents that run only the base's minimum refuse the head. */
  needsNewerAgent: boolean;
  /** The head's repository schema is above the base's: agents that read only the base's refuse the head. */
  schemaRaised: boolean;
}

function declaredOf(fleet: Fleet): Declared {
  const value = fleet.policies.compatibility?.value;
  return { ...(value ? { minAgentVersion: value.minAgentVersion } : {}), schemaVersion: value?.schemaVersion ?? 1 };
}

/** The change of the declaration from `base` to `head`; undefined when neither version changes. */
export function compatibilityChange(base: Fleet, head: Fleet): CompatibilityChange | undefined {
  const b = declaredOf(base);
  const h = declaredOf(head);
  if (b.minAgentVersion === h.minAgentVersion && b.schemaVersion === h.schemaVersion) return undefined;
  const needsNewerAgent = h.minAgentVersion !== undefined && newerThan(h.minAgentVersion, b.minAgentVersion ?? '0.0.0');
  return { base: b, head: h, needsNewerAgent, schemaRaised: h.schemaVersion > b.schemaVersion };
}

/**
 * The lines the PR comment (markdown) or the terminal (text) shows for `change`; none without one. render.ts
 * places them (e.g. right after the validation summary): `lines.push(...compatibilityLines(report.compatibility, 'markdown'))`.
 */
export function compatibilityLines(change: CompatibilityChange | undefined, format: 'markdown' | 'text'): string[] {
  if (!change) return [];
  const md = format === 'markdown';
  const code = (s: string): string => (md ? `\`${s}\`` : s);
  const { base, head } = change;
  const from = base.minAgentVersion ?? 'none';
  const to = head.minAgentVersion ?? 'none';
  const parts: string[] = [];
  if (from !== to) parts.push(`${code('minAgentVersion')} from ${from} to ${to}`);
  if (base.schemaVersion !== head.schemaVersion) parts.push(`${code('schemaVersion')} from ${base.schemaVersion} to ${head.schemaVersion}`);
  const what = `This change sets ${parts.join(' and ')} in ${code(COMPATIBILITY_FILE)}.`;
  if (!change.needsNewerAgent && !change.schemaRaised) {
    return md ? [`${what} Agents of every version the base allows can still apply it.`, ''] : [`compatibility: ${what}`];
  }
  const needs = [
    ...(change.needsNewerAgent ? [`mirrornet ≥ ${to}`] : []),
    ...(change.schemaRaised ? [`an agent that reads repository schema ${head.schemaVersion}`] : []),
  ].join(' and ');
  const warning =
    `${what} It needs ${needs}: every agent still older refuses it (status ${code('agent-too-old')}, ${code('agent --once')} exit code 4) ` +
    `and keeps the revision it applied. This assumes the fleet runs at least the base's minimum (${from === 'none' ? 'none declared' : from}); ` +
    'merge it only once every agent runs the new version (upgrade them wave by wave first).';
  return md ? ['> [!WARNING]', `> **Needs a newer agent.** ${warning}`, ''] : [`warning: needs a newer agent: ${warning}`];
}
