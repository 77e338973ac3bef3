// Unified diffs of the files an agent writes, for the host plan, the pull request's plan and drift alerts:
// one function over jsdiff, both texts with credential-named values masked and the diff passed through the
// redaction layer (the renderers mask already; this also catches a credential a hand-edited file on the host
// holds, registered or not), and a cut for
// bounded places (chat) that says how much was left out. Plus the pull request's side: the files two desired
// states of a site make the providers write (their own renderers, no host), paired by path and diffed, and the
// restarts and reloads those changes run.
import { createTwoFilesPatch } from 'diff';
import type { Desired } from '../desired/types.js';
import { desiredFiles, restartsOf } from '../providers/registry.js';
import { DEFAULT_COMMANDS, type Change, type FileText, type HostCommands, type ProviderId } from '../providers/types.js';
import { maskConfigSecrets, redactText } from '../redact.js';

/** `--- path` / `+++ path` hunks with 3 lines of context; '' when the texts are equal. A missing side is /dev/null. */
export function unifiedDiff(file: FileText, context = 3): string {
  if (file.before === file.after) return '';
  // Credential-named values are masked on both sides first: a host's file may hold one nobody registered.
  const before = maskConfigSecrets(file.before ?? '');
  const after = maskConfigSecrets(file.after ?? '');
  if (before === after && (file.before === undefined) === (file.after === undefined)) {
    return `--- ${file.path}\n+++ ${file.path}\n(only a masked credential differs)\n`;
  }
  const patch = createTwoFilesPatch(
    file.before === undefined ? '/dev/null' : file.path,
    file.after === undefined ? '/dev/null' : file.path,
    before,
    after,
    undefined,
    undefined,
    {
      context,
    },
  );
  // jsdiff starts with an `Index:`-style separator line of '='; a unified diff starts at `---`.
  const lines = patch.split('\n');
  const start = lines.findIndex((l) => l.startsWith('--- '));
  return redactText(lines.slice(start < 0 ? 0 : start).join('\n'));
}

/** `diff` cut to at most `maxLines` lines, with a last line saying how many were cut and where the rest is. */
function boundDiff(diff: string, maxLines: number, rest: string): string {
  const lines = diff.replace(/\n$/, '').split('\n');
  if (lines.length <= maxLines) return diff;
  const cut = lines.length - maxLines;
  return `${lines.slice(0, maxLines).join('\n')}\n… ${cut} more line${cut === 1 ? '' : 's'} of the diff cut (${rest}).\n`;
}

/** Lines and characters a drift alert's diff may take (a chat message is small; the rest is cut with a note). */
const DRIFT_DIFF_LINES = 30;
const DRIFT_DIFF_CHARS = 2000;

/**
 * What was found on the host against what the repository says, for a drift alert: the unified diff of each
 * changed file, masked, cut to a chat message's size with a line saying how much was cut; undefined when the
 * changes write no file (routes, cloud routes, Harbor objects).
 */
export function driftDiff(changes: readonly Change[]): string | undefined {
  const whole = changes
    .filter((c) => c.file && c.action !== 'noop')
    .map((c) => unifiedDiff(c.file!))
    .filter(Boolean)
    .join('');
  if (!whole) return undefined;
  const rest = 'run `mirrornet plan` on the host for all of it';
  let out = boundDiff(whole, DRIFT_DIFF_LINES, rest);
  while (out.length > DRIFT_DIFF_CHARS) {
    const kept = out.split('\n').length - 3;
    out = boundDiff(whole, Math.max(1, kept), rest);
    if (kept <= 1) break;
  }
  return out.length > DRIFT_DIFF_CHARS ? `${out.slice(0, DRIFT_DIFF_CHARS)}\n… cut (${rest}).\n` : out;
}

/** One file a site's agents will write differently, with its unified diff (secrets as references). */
export interface FilePatch {
  provider: ProviderId;
  path: string;
  action: 'add' | 'change' | 'remove';
  diff: string;
}

/** The files whose rendering differs between two desired states of a site (absent: the site is new or gone), by path. Pure. */
export function desiredFileDiffs(before: Desired | undefined, after: Desired | undefined): FilePatch[] {
  const b = new Map((before ? desiredFiles(before) : []).map((f) => [f.path, f]));
  const a = new Map((after ? desiredFiles(after) : []).map((f) => [f.path, f]));
  const out: FilePatch[] = [];
  for (const path of [...new Set([...b.keys(), ...a.keys()])]) {
    const x = b.get(path);
    const y = a.get(path);
    const diff = unifiedDiff({ path, ...(x ? { before: x.text } : {}), ...(y ? { after: y.text } : {}) });
    if (!diff) continue;
    out.push({ provider: (y ?? x)!.provider, path, action: !x ? 'add' : !y ? 'remove' : 'change', diff });
  }
  return out;
}

const ACTION = { add: 'create', change: 'update', remove: 'delete' } as const;

/** The restarts and reloads these changes run on the hosts (the default hook commands unless given). */
export function restartsFor(
  changes: readonly (Pick<Change, 'provider' | 'action' | 'data'> | FilePatch)[],
  commands: HostCommands = DEFAULT_COMMANDS,
): string[] {
  return restartsOf(
    changes.map((c) => ('diff' in c ? { provider: c.provider, action: ACTION[c.action] } : c)),
    commands,
  );
}
