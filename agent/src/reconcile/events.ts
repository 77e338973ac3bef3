// What the agent reports: one event model for logs, commit statuses and chat (issue: reporting).
import { createHash } from 'node:crypto';
import type { EVENT_KINDS } from '../model/schema.js';
import { redactText } from '../redact.js';
/**
 * `apply-started` marks a new revision being applied (commit status: pending); chat never routes it. The
 * others are what users are told about. `agent-stalled` / `agent-recovered`: no reconcile completed within two
 * intervals, or the state cannot be read (reconcile/health.ts), and the end of that; `component` is what was stuck.
 */
export type EventKind = (typeof EVENT_KINDS)[number];

export interface AgentEvent {
  kind: EventKind;
  site: string;
  revision: string;
  /** One sentence: what happened and what to do. */
  message: string;
  /** Drift: the component; failures: the provider or step. */
  component?: string;
  /** Changes (ids and actions) behind the event, no secret values. */
  changes?: { provider: string; id: string; action: string; reason: string }[];
  /** Drift: the unified diff of what was found against what the repository says, secrets masked, bounded (reconcile/file-diff.ts). */
  diff?: string;
  /** Stable identity for deduplication (same drift or failure => same fingerprint). */
  fingerprint: string;
  /**
   * `revision`: about applying a new revision (commit statuses follow these); `drift`: about keeping an
   * applied revision true (healing), which never changes the revision's commit status.
   */
  origin?: 'revision' | 'drift';
  /** The hosts the event is about: the reporting host, or (a site's event, from its gateway) every host involved. */
  hosts?: string[];
  at: string;
}

export type EventSink = (event: AgentEvent) => void;

/** A short stable hash of the parts that make an event the same event (for deduplication). */
export function fingerprint(parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

/** An event of `site`: its message redacted (events go to chat and commit statuses), its fingerprint from what identifies it. */
export function agentEvent(kind: EventKind, site: string, revision: string, message: string, extra: Partial<AgentEvent> = {}): AgentEvent {
  return {
    kind,
    site,
    revision,
    message: redactText(message),
    fingerprint: fingerprint([
      kind,
      site,
      extra.component ?? '',
      ...(extra.changes ?? []).map((c) => `${c.provider}:${c.id}:${c.action}`),
      kind === 'apply-failed' || kind === 'revision-refused' ? message : '',
    ]),
    at: new Date().toISOString(),
    origin: 'revision',
    ...extra,
  };
}
