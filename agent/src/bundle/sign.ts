// Signing a bundle with an SSH key, and checking that signature: `ssh-keygen -Y sign` / `-Y verify` in the
// namespace `mirrornet-bundle`, over the manifest digest (the text `sha256:<hex>`, no newline), with the same
// allowed-signers files the agent uses for commits. The signature travels as its own small OCI artifact in the
// bundle's repository, tagged `sha256-<hex>.sig` after the digest it signs (as cosign does), so any registry
// that stores images stores it too; its `subject` names the bundle for registries that list referrers.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { MirrornetError } from '../errors.js';
import type { Exec } from '../host/exec.js';
import { sshSign, sshVerify } from '../host/ssh-signature.js';
import { canonicalJson, MEDIA_TYPES, sha256, type Descriptor } from './build.js';

const SIGNATURE_NAMESPACE = 'mirrornet-bundle';
const SIGNATURE_MEDIA_TYPES = {
  artifact: 'application/vnd.mirrornet.bundle.signature.v1',
  signature: 'application/vnd.mirrornet.ssh-signature.v1',
  empty: 'application/vnd.oci.empty.v1+json',
} as const;

class SignatureError extends MirrornetError {}

/** The media type of the layer that holds a signature. */
export const SIGNATURE_LAYER_MEDIA_TYPE = SIGNATURE_MEDIA_TYPES.signature;

/** The tag the signature of `digest` is pushed under: `sha256-<hex>.sig`. */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/**
 * Sign each of `digests` with a private key given as its contents (a resolved secret reference), in one
 * ssh-keygen run however many there are (a fleet's bundle signs one manifest per site). The key is written to
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

/** Check a signature of `digest` against an allowed-signers file: which allowed principal signed it, or why none did. */
export async function verifyDigest(exec: Exec, digest: string, signature: string, allowedSigners: string): Promise<Verification> {
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
      ? `the bundle ${digest} is not signed by a key in ${allowedSigners}`
      : `the signature of the bundle ${digest} does not verify against ${allowedSigners}`,
  };
}

export interface SignatureArtifact {
  blobs: Map<string, Buffer>;
  manifest: Buffer;
  manifestDigest: string;
  tag: string;
}

/** The OCI artifact that carries the signature of a bundle manifest: empty config, the signature as its one layer. */
export function signatureArtifact(subject: { digest: string; size: number }, signature: string): SignatureArtifact {
  const empty = Buffer.from('{}');
  const sig = Buffer.from(signature, 'utf8');
  const config: Descriptor = { mediaType: SIGNATURE_MEDIA_TYPES.empty, digest: sha256(empty), size: empty.length };
  const layer: Descriptor = { mediaType: SIGNATURE_MEDIA_TYPES.signature, digest: sha256(sig), size: sig.length };
  const manifest = Buffer.from(
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      artifactType: SIGNATURE_MEDIA_TYPES.artifact,
      config,
      layers: [layer],
      subject: { mediaType: MEDIA_TYPES.manifest, digest: subject.digest, size: subject.size },
      annotations: { 'io.mirrornet.signature.namespace': SIGNATURE_NAMESPACE, 'io.mirrornet.signature.signed': subject.digest },
    }),
    'utf8',
  );
  return {
    blobs: new Map([
      [config.digest, empty],
      [layer.digest, sig],
    ]),
    manifest,
    manifestDigest: sha256(manifest),
    tag: signatureTag(subject.digest),
  };
}
