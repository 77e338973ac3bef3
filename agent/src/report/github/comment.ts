// One comment per pull request: found again by a hidden marker at the start of its body and updated in
// place, so a pull request shows the latest plan and not one comment per push. Bodies longer than GitHub's
// limit (65536 characters) are cut at a line outside any code block, open <details> are closed, and a note
// says where the rest is. The body goes through the one redaction layer (redact.ts) before it is cut.
import type { Logger } from 'pino';
import { redactText } from '../../redact.js';
import type { Octokit } from './octokit.js';

export const PLAN_MARKER = '<!-- mirrornet:plan -->';
/** GitHub's limit on an issue comment body, in characters. */
export const GITHUB_COMMENT_LIMIT = 65536;
/**
 * What we send at most, in UTF-16 code units: below the character limit whatever the text (a code unit is at
 * most one character), and below the 262144 bytes GitHub also allows (a code unit is at most 3 UTF-8 bytes).
 */
export const COMMENT_BUDGET = 65_000;

const FENCE_RE = /^ {0,3}(`{3,}|~{3,})/;

/** Cut `text` to at most `max` code units at a safe place, and append `notice` (markdown) when it was cut. */
export function truncateMarkdown(text: string, max: number = COMMENT_BUDGET, notice = ''): string {
  if (text.length <= max) return text;
  const lines = text.split('\n');
  let fence: string | undefined;
  let details = 0;
  let used = 0;
  /** The last place (line count) where no fence is open, and the <details> depth there. */
  let safe = { lines: 0, details: 0, used: 0 };
  const closing = (depth: number) => '\n</details>'.repeat(depth);
  const tail = (depth: number) => `${closing(depth)}\n\n${notice}`;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const cost = line.length + 1;
    if (!fence) {
      const f = FENCE_RE.exec(line);
      if (f) fence = f[1]![0]!.repeat(f[1]!.length);
      else {
        details += (line.match(/<details\b/gi) ?? []).length;
        details -= (line.match(/<\/details>/gi) ?? []).length;
        details = Math.max(0, details);
      }
    } else if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') {
      fence = undefined;
    }
    if (used + cost + tail(details).length > max) break;
    used += cost;
    if (!fence) safe = { lines: i + 1, details, used };
  }
  let head = lines.slice(0, safe.lines).join('\n');
  if (safe.lines === 0) {
    // Not one safe line fits (one huge line or block): cut by characters, never inside a surrogate pair.
    const room = Math.max(0, max - tail(0).length - 1);
    head = Array.from(text.slice(0, room)).join('');
    if (head.length > room || /[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
    // A raw cut may sit in a code block: close it so the notice renders.
    if ((head.match(/^ {0,3}```/gm) ?? []).length % 2 === 1) head = `${head.slice(0, Math.max(0, room - 4))}\n\`\`\``;
    return `${head}${tail(0)}`.slice(0, max);
  }
  return `${head}${tail(safe.details)}`;
}

export interface UpsertCommentOptions {
  owner: string;
  repo: string;
  issueNumber: number;
  /** The comment without the marker. */
  body: string;
  marker?: string;
  /** Appended when the body had to be cut. */
  truncatedNotice?: string;
  log?: Logger;
}

export interface UpsertResult {
  action: 'created' | 'updated' | 'unchanged';
  id: number;
  url: string;
  /** Characters sent. */
  length: number;
  truncated: boolean;
}

/** The body as posted: the marker first, then the text cut to the budget. */
function commentBody(body: string, marker = PLAN_MARKER, notice = ''): { text: string; truncated: boolean } {
  const full = `${marker}\n${redactText(body)}`;
  const text = truncateMarkdown(full, COMMENT_BUDGET, notice);
  return { text, truncated: text !== full };
}

/** Find our comment (the first whose body starts with the marker) through every page of the comments. */
async function findMarkedComment(
  octokit: Octokit,
  o: { owner: string; repo: string; issueNumber: number; marker?: string },
): Promise<{ id: number; body: string; url: string } | undefined> {
  const marker = o.marker ?? PLAN_MARKER;
  for await (const page of octokit.paginate.iterator('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    owner: o.owner,
    repo: o.repo,
    issue_number: o.issueNumber,
    per_page: 100,
  })) {
    for (const c of page.data) {
      if ((c.body ?? '').trimStart().startsWith(marker)) return { id: c.id, body: c.body ?? '', url: c.html_url };
    }
  }
  return undefined;
}

/** Create the pull request's plan comment, or update it in place. */
export async function upsertMarkedComment(octokit: Octokit, o: UpsertCommentOptions): Promise<UpsertResult> {
  const marker = o.marker ?? PLAN_MARKER;
  const { text, truncated } = commentBody(o.body, marker, o.truncatedNotice ?? '');
  if (truncated) o.log?.warn({ length: o.body.length, sent: text.length }, 'the comment is longer than GitHub allows: truncated');
  const existing = await findMarkedComment(octokit, { ...o, marker });
  if (existing) {
    if (existing.body === text) return { action: 'unchanged', id: existing.id, url: existing.url, length: text.length, truncated };
    const res = await octokit.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
      owner: o.owner,
      repo: o.repo,
      comment_id: existing.id,
      body: text,
    });
    return { action: 'updated', id: Number(res.data.id), url: res.data.html_url, length: text.length, truncated };
  }
  const res = await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    owner: o.owner,
    repo: o.repo,
    issue_number: o.issueNumber,
    body: text,
  });
  return { action: 'created', id: Number(res.data.id), url: res.data.html_url, length: text.length, truncated };
}
