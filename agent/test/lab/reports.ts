// What the lab's local receivers got, as the lab tests read it: a chat delivery's parsed body and the commit
// statuses at the lab's GitHub emulator. Test support only: the lab itself never reads them back.
import type { WebhookBody } from '../../src/report/chat/webhook/index.js';
import { GITHUB_TOKEN_ENV } from '../../src/testbed/lab/agents.js';
import type { LabState } from '../../src/testbed/lab/processes.js';
import type { ChatDelivery } from '../../src/testbed/lab/receivers.js';

/** A delivery's body, parsed (the generic webhook's JSON); undefined when it is not JSON. */
export function chatBody(d: ChatDelivery): WebhookBody | undefined {
  try {
    return JSON.parse(d.body) as WebhookBody;
  } catch {
    return undefined;
  }
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
