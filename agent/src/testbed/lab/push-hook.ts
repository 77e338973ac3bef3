// The lab origin's post-receive hook: when the lab was made with `pushWebhook` (state.options.pushWebhook,
// read on every push, so it can be turned on and off), a push to main is a GitHub `push` webhook to every
// lab agent (signed with the lab's webhook secret, as GitHub signs it: X-Hub-Signature-256), so the agents
// reconcile at once instead of at their next interval. Only loopback: the agents listen on 127.0.0.1.
// Never fails the push.
//
//   hooks/post-receive:  exec node push-hook.js <lab dir>     (git feeds "<old> <new> <ref>" lines on stdin)
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { followsGit } from './delivery.js';
import { loadState } from './processes.js';

export const WEBHOOK_SECRET_ENV = 'MIRRORNET_LAB_WEBHOOK_SECRET';
export const PUSH_HOOK_SCRIPT = fileURLToPath(import.meta.url);

/** The post-receive hook's text for a lab directory. */
export function postReceiveHook(dir: string, node = process.execPath): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return (
    "#!/bin/sh\n# mirrornet lab: tell the lab's agents about every push to main (a signed GitHub push webhook).\n" +
    `exec ${q(node)} ${q(PUSH_HOOK_SCRIPT)} ${q(dir)}\n`
  );
}

/** POST a signed push event for `ref`/`after` to every agent of the lab; how many answered 2xx. */
export async function notifyAgents(dir: string, ref: string, after: string, timeoutMs = 3000): Promise<{ sent: number; ok: number }> {
  const state = loadState(dir);
  const secret = state?.secrets[WEBHOOK_SECRET_ENV];
  if (!state || !secret) return { sent: 0, ok: 0 };
  const body = JSON.stringify({ ref, after, repository: { full_name: 'lab/fleet' }, pusher: { name: 'mirrornet lab' } });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const results = await Promise.all(
    // With bundle delivery only the publisher follows the origin; the others hear from their registry.
    state.agents
      .filter((a) => followsGit(state, a))
      .map(async (a) => {
        try {
          const res = await fetch(`http://${a.listen}/hooks/github`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': signature },
            body,
            signal: AbortSignal.timeout(timeoutMs),
          });
          await res.arrayBuffer();
          return res.ok;
        } catch {
          return false;
        }
      }),
  );
  return { sent: results.length, ok: results.filter(Boolean).length };
}

async function main(argv: string[]): Promise<void> {
  const dir = argv[0];
  if (!dir || !loadState(dir)?.options?.pushWebhook) return;
  let input = '';
  try {
    input = readFileSync(0, 'utf8');
  } catch {
    input = '';
  }
  for (const line of input.split('\n')) {
    const [, after, ref] = line.trim().split(/\s+/);
    if (ref !== 'refs/heads/main' || !after || /^0+$/.test(after)) continue;
    const r = await notifyAgents(dir, ref, after);
    process.stdout.write(`mirrornet lab: push webhook to ${r.ok} of ${r.sent} agent(s)\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch(() => undefined);
}
