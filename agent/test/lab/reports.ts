// What the lab's local receivers got, as the lab tests read it: a chat delivery's parsed body and the commit
// statuses at the lab's GitHub emulator. Test support only: the lab itself never reads them back.
import { verify, type WebhookBody } from '../../src/report/chat/webhook/index.js';
import { GITHUB_TOKEN_ENV } from '../../src/testbed/lab/agents.js';
import { LAB_CHAT_SECRET_ENV } from '../../src/testbed/lab/fleet.js';
import type { LabState } from '../../src/testbed/lab/processes.js';
import type { ChatDelivery } from '../../src/testbed/lab/receivers.js';
import { labChatMessages } from '../../src/testbed/lab/status.js';

/** A delivery's body, parsed (the generic webhook's JSON); undefined when it is not JSON. */
export function chatBody(d: ChatDelivery): WebhookBody | undefined {
  try {
    return JSON.parse(d.body) as WebhookBody;
  } catch {
    return undefined;
  }
}

/** A chat delivery, its parsed body, and whether its signature checks out against the lab's secret again. */
export interface LabChat {
  d: ChatDelivery;
  b: WebhookBody;
  signed: boolean;
}

/** The chat deliveries so far that `pred` keeps, each with its parsed body and its signature checked. */
export function labChat(state: Pick<LabState, 'report' | 'secrets'>, pred: (d: ChatDelivery, b: WebhookBody) => boolean): LabChat[] {
  const secret = state.secrets[LAB_CHAT_SECRET_ENV]!;
  return labChatMessages(state).flatMap((d) => {
    const b = chatBody(d);
    return b && pred(d, b) ? [{ d, b, signed: verify(secret, d.body, d.signature) }] : [];
  });
}

export interface LabCommitStatus {
  context: string;
  state: string;
  description: string | null;
  created_at: string;
}

/** The commit statuses of a revision at the lab's GitHub emulator, newest first (GitHub's order). */
export async function labCommitStatuses(state: Pick<LabState, 'report' | 'services' | 'secrets'>, sha: string): Promise<LabCommitStatus[]> {
  const url = state.services?.githubUrl;
  const repo = state.report?.github?.repo;
  if (!url || !repo) throw new Error('The lab does not report commit statuses (lab up without report.github).');
  const out: LabCommitStatus[] = [];
  for (let page = 1; ; page++) {
    const res = await fetch(`${url}/repos/${repo}/commits/${sha}/statuses?per_page=100&page=${page}`, {
      headers: { authorization: `token ${state.secrets[GITHUB_TOKEN_ENV]}`, accept: 'application/vnd.github+json' },
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`the GitHub emulator answered ${res.status}: ${await res.text()}`);
    const list = (await res.json()) as LabCommitStatus[];
    out.push(...list);
    if (list.length < 100) return out;
  }
}

/** The latest commit status of each context for a revision. */
export async function latestStatuses(state: Pick<LabState, 'report' | 'services' | 'secrets'>, sha: string): Promise<Map<string, LabCommitStatus>> {
  const out = new Map<string, LabCommitStatus>();
  for (const s of await labCommitStatuses(state, sha)) if (!out.has(s.context)) out.set(s.context, s);
  return out;
}
