// Network failures as sentences, like describeFsError for files: what could not be reached, at which address,
// why (refused, a name that does not resolve, no answer, no route, a reset, a certificate this host does not
// trust) and what to do. Every client that talks to a service — PostgreSQL, Harbor, Huawei Cloud, GitHub —
// says it the same way, so an unreachable service is never an internal error.
import { MirrornetError } from '../errors.js';

/** A service this host cannot reach, said as what, where, why and what to do. */
export class NetworkError extends MirrornetError {
  constructor(
    userMessage: string,
    readonly code: string,
    opts: { cause?: unknown; message?: string } = {},
  ) {
    super(userMessage, opts);
  }
}

const TIMEOUT_NAMES = new Set(['TimeoutError', 'AbortError']);

/**
 * The code of a network failure (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, CERT_HAS_EXPIRED ...) looking through
 * `cause` chains (fetch wraps it, octokit wraps fetch) and the attempts of an AggregateError (one per address
 * of a name); undefined when the error carries none.
 */
export function networkErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e instanceof Error; depth++) {
    // Node's system errors (and undici's) are plain Errors with a string `code`: there is no class to test.
    if ('code' in e && typeof e.code === 'string' && e.code) return e.code;
    if (TIMEOUT_NAMES.has(e.name)) return 'ETIMEDOUT';
    if (e instanceof AggregateError && e.errors.length > 0) {
      const inner = networkErrorCode(e.errors[0]);
      if (inner) return inner;
    }
    e = e.cause;
  }
  return undefined;
}

const TLS_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * The sentence for a network failure with `code` while reaching `what` (e.g. "PostgreSQL", "Harbor") at
 * `address` (host:port or URL), or undefined when the code is not one the network explains.
 */
export function networkSentence(what: string, address: string, code: string): string | undefined {
  const cannot = `Cannot reach ${what} at ${address}`;
  switch (code) {
    case 'ECONNREFUSED':
      return `${cannot}: the connection was refused (nothing listens on that port). Check that ${what} runs there and that the address and port are right.`;
    case 'ENOTFOUND':
      return `${cannot}: the host name does not resolve. Check the name, and this host's DNS (/etc/resolv.conf).`;
    case 'EAI_AGAIN':
      return `${cannot}: the DNS lookup of its name failed for now. Check this host's DNS servers (/etc/resolv.conf); the next run tries again.`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `${cannot}: no answer in time. Check the network path and firewalls between this host and ${address}; the next run tries again.`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return `${cannot}: this host has no route to it. Check this host's network and routes (ip route get <address>).`;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return `${cannot}: the connection was closed before an answer. Check for a proxy or load balancer in between; the next run tries again.`;
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return `${cannot}: its TLS certificate is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not valid yet'}. Renew it, or check this host's clock.`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `${cannot}: its TLS certificate is for another name. Use the name the certificate was issued for, or reissue the certificate.`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
      return `${cannot}: the TLS handshake failed (${code}). Check that the URL's scheme (http or https) and port match the service.`;
    default:
      if (TLS_UNTRUSTED.has(code)) {
        return (
          `${cannot}: this host does not trust its TLS certificate (${code}). Install the CA that signed it on this host ` +
          '(e.g. NODE_EXTRA_CA_CERTS=/path/to/ca.pem in the agent environment), or fix the certificate.'
        );
      }
      return undefined;
  }
}

/** A NetworkError for `err`, or undefined when `err` is not a network failure (then it is the caller's to explain). */
export function describeNetworkError(what: string, address: string, err: unknown): NetworkError | undefined {
  const code = networkErrorCode(err);
  const sentence = code === undefined ? undefined : networkSentence(what, address, code);
  return sentence === undefined ? undefined : new NetworkError(sentence, code!, { cause: err, message: `cannot reach ${what} at ${address}: ${code}` });
}
