// Who is asking a core for its fleet's status or to steer a site: an operator signs each request with their SSH
// key (`ssh-keygen -Y sign`, namespace mirrornet-operator), and the core checks it against its --operators
// allowed-signers file; the principal that verifies is "by whom" in every suspension. Both halves of the wire
// format live here (the CLI signs with signOperatorRequest, the core checks with verifyOperatorRequest), so they
// cannot drift apart. The signed text binds method, path (with its query), time, a nonce and the body's digest:
// a request is good once, within ±300 s, for exactly what it says.
import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { MirrornetError } from '../../errors.js';
import type { Exec } from '../../host/exec.js';
import { sshSign, sshVerify } from '../../host/ssh-signature.js';

const OPERATOR_NAMESPACE = 'mirrornet-operator';
/** How far an operator's clock may be from the core's. */
const OPERATOR_SKEW_SECONDS = 300;
/** A nonce must be remembered at least this long (a request is good from −300 s to +300 s around its timestamp). */
export const OPERATOR_NONCE_WINDOW_MS = 2 * OPERATOR_SKEW_SECONDS * 1000;

const HEADER = {
  timestamp: 'x-mirrornet-operator-timestamp',
  nonce: 'x-mirrornet-operator-nonce',
  signature: 'x-mirrornet-operator-signature',
} as const;

class OperatorAuthError extends MirrornetError {}

/** A request as the server hands it on: `path` is the request target as sent (path and query). */
export interface OperatorRequest {
  method: string;
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer | string;
}

/** The nonces seen lately (server/guards.ts RecentDeliveries, with a window of at least OPERATOR_NONCE_WINDOW_MS). */
export interface NonceMemory {
  /** True when `nonce` was recorded within the window; otherwise records it and answers false. */
  seenBefore(nonce: string): boolean;
}

export type OperatorVerification = { ok: true; principal: string } | { ok: false; status: 401; reason: string };

/** The text an operator signs. */
function signedText(method: string, path: string, timestamp: string, nonce: string, body: Buffer | string): string {
  const digest = createHash('sha256').update(body).digest('hex');
  return `${method.toUpperCase()} ${path}\n${timestamp}\n${nonce}\n${digest}`;
}

/**
 * The headers that sign a request to a core with the SSH key at `keyFile` (a private key without a passphrase,
 * or a public key whose private half ssh-agent holds). Throws a sentence when ssh-keygen cannot sign.
 */
export async function signOperatorRequest(
  exec: Exec,
  keyFile: string,
  req: { method: string; path: string; body: Buffer | string },
  nowMs: number,
  nonce: string = randomUUID(),
): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const text = signedText(req.method, req.path, timestamp, nonce, req.body);
  const { signatures, problem } = await sshSign(exec, OPERATOR_NAMESPACE, [text], { keyFile });
  const signature = signatures.get(text);
  if (!signature) {
    throw new OperatorAuthError(
      `ssh-keygen could not sign the request with ${keyFile} (${problem || 'no signature written'}): --key must name an SSH private key without a ` +
        'passphrase, or a public key whose private half ssh-agent holds.',
    );
  }
  return {
    [HEADER.timestamp]: timestamp,
    [HEADER.nonce]: nonce,
    [HEADER.signature]: Buffer.from(signature, 'utf8').toString('base64'),
  };
}

function header(req: OperatorRequest, name: string): string | undefined {
  const found = Object.entries(req.headers).find(([k]) => k.toLowerCase() === name)?.[1];
  return typeof found === 'string' ? found : undefined;
}

const refused = (reason: string): OperatorVerification => ({ ok: false, status: 401, reason });

/**
 * Which operator signed `req`, or why it is refused (401; nothing may change). A nonce is remembered only once the
 * signature verifies, so nobody can spend an operator's nonces. An operators file the core cannot read is the
 * core's fault, not the request's: an error.
 */
export async function verifyOperatorRequest(
  req: OperatorRequest,
  allowedSignersFile: string,
  exec: Exec,
  nowMs: number,
  nonces: NonceMemory,
): Promise<OperatorVerification> {
  const timestamp = header(req, HEADER.timestamp);
  const nonce = header(req, HEADER.nonce);
  const encoded = header(req, HEADER.signature);
  if (timestamp === undefined || nonce === undefined || encoded === undefined) {
    return refused('the request is not signed: X-Mirrornet-Operator-Timestamp, X-Mirrornet-Operator-Nonce and X-Mirrornet-Operator-Signature are required');
  }
  if (!/^\d{1,12}$/.test(timestamp)) return refused('X-Mirrornet-Operator-Timestamp is not a time in unix seconds');
  const skew = Math.round(Math.abs(nowMs / 1000 - Number(timestamp)));
  if (skew > OPERATOR_SKEW_SECONDS) {
    return refused(`the request was signed ${skew} s away from the core's clock (at most ${OPERATOR_SKEW_SECONDS} s): check both clocks`);
  }
  if (!/^[0-9A-Za-z-]{8,64}$/.test(nonce)) return refused('X-Mirrornet-Operator-Nonce is not 8 to 64 letters, digits or dashes');
  const signature = encoded.length <= 16_384 ? Buffer.from(encoded, 'base64').toString('utf8') : '';
  if (!signature.startsWith('-----BEGIN SSH SIGNATURE-----')) {
    return refused('X-Mirrornet-Operator-Signature is not the base64 of an armored SSH signature');
  }
  await access(allowedSignersFile, constants.R_OK).catch((cause: NodeJS.ErrnoException) => {
    throw new OperatorAuthError(
      `Cannot read the operators file ${allowedSignersFile} (${cause.code ?? cause.message}): no operator request is accepted; fix --operators.`,
      { cause },
    );
  });
  const text = signedText(req.method, req.path, timestamp, nonce, req.body);
  const checked = await sshVerify(exec, OPERATOR_NAMESPACE, text, signature, allowedSignersFile);
  if (!checked.ok) {
    return refused(
      checked.unknownSigner
        ? "the request is not signed by a key in the core's operators file"
        : 'the signature does not verify: it was made for another method, path, time, nonce or body, or outside the mirrornet-operator namespace',
    );
  }
  if (nonces.seenBefore(nonce)) return refused('this nonce was already used: a replayed request is refused');
  return { ok: true, principal: checked.principal };
}
