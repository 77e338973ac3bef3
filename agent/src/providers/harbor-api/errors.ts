// Failed Harbor calls as typed errors: the kind of failure from the HTTP status (or the network error),
// Harbor's `{"errors":[...]}` body parsed into a code and a message, and a sentence for the user that says
// what to do. Never holds a password, a secret or a request body.
import { MirrornetError } from '../../errors.js';
import { networkErrorCode, networkSentence } from '../../host/network.js';
import { HarborErrorBody } from './schema.js';

export type HarborErrorKind =
  'unauthorized' | 'forbidden' | 'not-found' | 'conflict' | 'bad-request' | 'precondition' | 'throttled' | 'server' | 'network' | 'invalid-response' | 'other';

function kindOf(status: number): HarborErrorKind {
  if (status === 0) return 'network';
  if (status === 400 || status === 422) return 'bad-request';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status === 412) return 'precondition';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'server';
  return 'other';
}

/** A failed Harbor call. `cause` is the network error or Harbor's `{"errors":[...]}` body. */
export class HarborApiError extends MirrornetError {
  readonly kind: HarborErrorKind;
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** Harbor's error code (BAD_REQUEST, CONFLICT ...) or a network code (ECONNRESET ...). */
    readonly code: string,
    /** Harbor's message. */
    readonly harborMessage: string,
    readonly baseUrl: string,
    readonly attempts: number,
    opts?: { cause?: unknown },
  ) {
    const what = status ? `HTTP ${status} ${code}${harborMessage ? `: ${harborMessage}` : ''}` : `${code}${harborMessage ? ` (${harborMessage})` : ''}`;
    const kind = code === 'INVALID_RESPONSE' ? 'invalid-response' : kindOf(status);
    super(userSentence({ kind, baseUrl, method, path, harborMessage, attempts, code }, what), {
      cause: opts?.cause,
      message: `Harbor ${method} ${path} failed: ${what}`,
    });
    this.kind = kind;
  }
  /** Whether an earlier attempt of this call may have reached Harbor. */
  get retried(): boolean {
    return this.attempts > 1;
  }
}

function userSentence(e: Pick<HarborApiError, 'kind' | 'baseUrl' | 'method' | 'path' | 'harborMessage' | 'attempts' | 'code'>, what: string): string {
  const at = `Harbor at ${e.baseUrl} answered ${e.method} ${e.path} with ${what}`;
  switch (e.kind) {
    case 'unauthorized':
      return `${at}. Check the Harbor admin username and the password its secret reference resolves to on this host.`;
    case 'forbidden':
      return `${at}. The account mirrornet uses lacks the permission: use a Harbor system administrator.`;
    case 'not-found':
      return `${at}. The object does not exist (any more); the next run reads Harbor again and converges.`;
    case 'conflict':
      return `${at}. An object with that name already exists in Harbor; the next run reads it and adopts or reports it.`;
    case 'precondition':
      return (
        `${at}. Harbor refuses while something still uses the object ` +
        '(a replication policy or proxy-cache project on a registry, repositories in a project).'
      );
    case 'bad-request':
      if (/unhealthy/i.test(e.harborMessage)) {
        return (
          `${at}. Harbor could not reach the remote registry at the endpoint's URL: ` +
          "check that the other core's Harbor answers from this core (network, DNS, TLS), then the next run creates it."
        );
      }
      return `${at}. Harbor rejected the request: fix the value it names in the repository.`;
    case 'throttled':
    case 'server':
      return `${at} after ${e.attempts} attempt(s). Harbor is overloaded or failing; the next run retries.`;
    case 'network': {
      const sentence = networkSentence('Harbor', e.baseUrl, e.code) ?? `Cannot reach Harbor at ${e.baseUrl} (${what}). Check the URL and the network.`;
      return `${sentence} (${e.method} ${e.path}, ${e.attempts} attempt(s).)`;
    }
    case 'invalid-response':
      return `${at}, which mirrornet does not understand (is this Harbor 2.x?).`;
    default:
      return `${at}.`;
  }
}

export function isHarborError(err: unknown, kind?: HarborErrorKind): err is HarborApiError {
  return err instanceof HarborApiError && (kind === undefined || err.kind === kind);
}

/** The code of a failed fetch (ECONNRESET, ECONNREFUSED, ETIMEDOUT ...), looking through its causes; ECONNRESET when it has none. */
export function networkCode(err: unknown): string {
  return networkErrorCode(err) ?? 'ECONNRESET';
}

/** The error of a non-2xx answer, from Harbor's error body when it has one (else the start of the text). */
export function httpError(method: string, path: string, status: number, text: string, baseUrl: string, attempts: number): HarborApiError {
  let parsed: HarborErrorBody | undefined;
  try {
    const r = HarborErrorBody.safeParse(JSON.parse(text));
    if (r.success) parsed = r.data;
  } catch {
    /* not JSON */
  }
  const first = parsed?.errors[0];
  const code = first?.code ?? (status >= 500 ? 'UNKNOWN' : `HTTP_${status}`);
  const message = (first?.message ?? (parsed ? '' : text.trim().slice(0, 200))).replace(/\s+/g, ' ').trim();
  return new HarborApiError(method, path, status, code, message, baseUrl, attempts, { cause: parsed ?? text.slice(0, 200) });
}
