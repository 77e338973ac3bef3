// What `mirrornet status`, `suspend`, `resume` and `reconcile` share: asking each core (in parallel) with a
// request signed by the operator's SSH key (report/site/operator-auth.ts signs), and turning what cannot be
// answered — an unreachable core, a refused key, a core's own failure — into one sentence each. The key is
// named by its path and never read here beyond checking it is there; nothing secret is printed.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { messageOf } from '../errors.js';
import { localExec, type Exec } from '../host/exec.js';
import { describeNetworkError } from '../host/network.js';
import { signOperatorRequest } from '../report/site/operator-auth.js';
import { UsageError, UserError } from './errors.js';

/** The flags every operator command takes. */
export interface CoreFlags {
  core: string[];
  /** The operator's SSH private key (or its .pub, with ssh-agent holding the key). */
  key: string;
}

/** What an operator command reads from its surroundings (tests pass their own). */
export interface OperatorDeps {
  exec?: Exec;
  fetch?: typeof fetch;
  clock?: () => number;
}

/** A core's answer, or why there is none (a sentence saying what to do). */
export type CoreAnswer = { core: string; status: number; body: unknown } | { core: string; error: string };

const TIMEOUT_MS = 15_000;

function coreUrl(core: string): URL {
  let url: URL;
  try {
    url = new URL(core);
  } catch {
    throw new UsageError(`--core ${core} is not a URL: give the core agent's --listen address, e.g. http://10.0.0.1:9464.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--core ${core} is not an http:// or https:// URL.`);
  return url;
}

/** The sentence of an error body a core sent ({ error }), or its first line of text. */
export function answerSentence(body: unknown): string {
  if (body && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string') return (body as { error: string }).error;
  return typeof body === 'string' && body.trim() ? body.trim().split('\n')[0]!.slice(0, 300) : 'no reason given';
}

/** The sentence of an answer, ending with a full stop. */
const sentence = (body: unknown) => answerSentence(body).replace(/([^.!?])$/, '$1.');

async function askCore(core: string, method: string, path: string, body: string, flags: CoreFlags, deps: OperatorDeps): Promise<CoreAnswer> {
  const exec = deps.exec ?? localExec();
  const url = new URL(path, coreUrl(core));
  const target = `${url.pathname}${url.search}`;
  const headers = await signOperatorRequest(exec, flags.key, { method, path: target, body }, (deps.clock ?? Date.now)());
  let res: Response;
  try {
    res = await (deps.fetch ?? globalThis.fetch)(url, {
      method,
      headers: { ...headers, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), accept: 'application/json' },
      ...(method === 'POST' ? { body } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const network = describeNetworkError("the core's agent", core, err);
    return {
      core,
      error:
        network?.userMessage ??
        `Cannot reach the core at ${core} (${messageOf((err as Error).cause ?? err)}): check --core, and that the core's agent listens there.`,
    };
  }
  const text = await res.text();
  let answer: unknown = text;
  try {
    answer = JSON.parse(text);
  } catch {
    // not JSON: the text is the answer
  }
  if (res.status === 401) {
    return {
      core,
      error:
        `The core ${core} refused the request (HTTP 401): ${sentence(answer)} ` +
        `If your key is not in the core's --operators file, add its public key there as a line ` +
        `\`you@example.org namespaces="mirrornet-operator" ssh-ed25519 AAAA...\`.`,
    };
  }
  if (res.status >= 500 || res.status === 429) return { core, error: `The core ${core} failed to answer (HTTP ${res.status}): ${sentence(answer)}` };
  return { core, status: res.status, body: answer };
}

/** Ask every core, in parallel, with a request signed by the operator's key; answers in the order of --core. */
export async function askCores(flags: CoreFlags, deps: OperatorDeps, method: 'GET' | 'POST', path: string, body = ''): Promise<CoreAnswer[]> {
  if (!flags.core.length) throw new UsageError('Name at least one core with --core URL.');
  flags.core.forEach(coreUrl);
  await access(flags.key, constants.R_OK).catch((cause: NodeJS.ErrnoException) => {
    throw new UserError(
      `Cannot read --key ${flags.key} (${cause.code ?? cause.message}): name your SSH private key, or its .pub while ssh-agent holds the key.`,
      1,
      { cause },
    );
  });
  return Promise.all(flags.core.map((core) => askCore(core, method, path, body, flags, deps)));
}
