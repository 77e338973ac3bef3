// Signing a bundle with an SSH key, and checking that signature: `ssh-keygen -Y sign` / `-Y verify` in the
// namespace `mirrornet-bundle`, over the digest of a site layer's payload (the text `sha256:<hex>` of its
// canonical JSON without the signature, no newline), with the same allowed-signers files the agent uses for
// commits. The signature travels inside the layer it signs (build.ts), so a layer and its signature always
// arrive together: a replication cannot copy one without the other, and a host fetches nothing beside it.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { MirrornetError } from '../errors.js';
import type { Exec } from '../host/exec.js';
import { sshSign, sshVerify } from '../host/ssh-signature.js';

const SIGNATURE_NAMESPACE = 'mirrornet-bundle';

class SignatureError extends MirrornetError {}

/**
 * Sign each of `digests` with a private key given as its contents (a resolved secret reference), in one
 * ssh-keygen run however many there are (a fleet's bundle signs one layer per site). The key is written to
 * a private temporary file for ssh-keygen and removed at once; the armored signatures are returned by digest.
 */
export async function signDigests(exec: Exec, digests: readonly string[], privateKey: string): Promise<Map<string, string>> {
  const { signatures, problem } = await sshSign(exec, SIGNATURE_NAMESPACE, digests, { privateKey });
  if (signatures.size !== new Set(digests).size) {
    throw new SignatureError(
      `ssh-keygen could not sign the bundle (${problem || 'no signature written'}): --sign-key must reference an SSH private key without a passphrase.`,
    );
  }
  return signatures;
}

export type Verification = { ok: true; principal: string } | { ok: false; reason: string };

/**
 * Check a signature of `digest` against an allowed-signers file: which allowed principal signed it, or why none
 * did; `what` names what was signed in that sentence.
 */
export async function verifyDigest(
  exec: Exec,
  digest: string,
  signature: string,
  allowedSigners: string,
  what = `the payload ${digest}`,
): Promise<Verification> {
  // A file this host cannot read is the host's problem, not the bundle's: an error (the next tick tries again), no refusal.
  await access(allowedSigners, constants.R_OK).catch((cause: NodeJS.ErrnoException) => {
    throw new SignatureError(
      `Cannot read the allowed-signers file ${allowedSigners} (${cause.code ?? cause.message}): nothing applied; fix --allowed-signers.`,
      {
        cause,
      },
    );
  });
  const checked = await sshVerify(exec, SIGNATURE_NAMESPACE, digest, signature, allowedSigners);
  if (checked.ok) return checked;
  return {
    ok: false,
    reason: checked.unknownSigner
      ? `${what} is not signed by a key in ${allowedSigners}`
      : `the signature of ${what} does not verify against ${allowedSigners}`,
  };
}
