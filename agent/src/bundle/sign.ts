// Signing a bundle with an SSH key, and checking that signature: `ssh-keygen -Y sign` / `-Y verify` in the
// namespace `mirrornet-bundle`, over the manifest digest (the text `sha256:<hex>`, no newline), with the same
// allowed-signers files the agent uses for commits. The signature travels as its own small OCI artifact in the
// bundle's repository, tagged `sha256-<hex>.sig` after the digest it signs (as cosign does), so any registry
// that stores images stores it too; its `subject` names the bundle for registries that list referrers.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MirrornetError } from '../errors.js';
import type { Exec } from '../host/exec.js';
import { canonicalJson, MEDIA_TYPES, sha256, type Descriptor } from './build.js';

const SIGNATURE_NAMESPACE = 'mirrornet-bundle';
const SIGNATURE_MEDIA_TYPES = {
  artifact: 'application/vnd.mirrornet.bundle.signature.v1',
  signature: 'application/vnd.mirrornet.ssh-signature.v1',
  empty: 'application/vnd.oci.empty.v1+json',
} as const;

class SignatureError extends MirrornetError {}

/** The tag the signature of `digest` is pushed under: `sha256-<hex>.sig`. */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

async function withTempDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mirrornet-sign-'));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The first line ssh-keygen wrote, for a sentence (it never prints key material). */
function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? 'no output'
  );
}

/**
 * Sign `digest` with a private key given as its contents (a resolved secret reference). The key is written
 * to a private temporary file for ssh-keygen and removed at once; the armored signature is returned.
 */
export async function signDigest(exec: Exec, digest: string, privateKey: string): Promise<string> {
  return withTempDir(async (dir) => {
    const keyFile = join(dir, 'key');
    await writeFile(keyFile, privateKey.endsWith('\n') ? privateKey : `${privateKey}\n`, { mode: 0o600 });
    const res = await exec.run('ssh-keygen', ['-q', '-Y', 'sign', '-n', SIGNATURE_NAMESPACE, '-f', keyFile], {
      input: digest,
      allowFail: true,
      timeoutMs: 30_000,
    });
    if (res.code !== 0 || !res.stdout.includes('BEGIN SSH SIGNATURE')) {
      throw new SignatureError(
        `ssh-keygen could not sign the bundle (${firstLine(res.stderr)}): --sign-key must reference an SSH private key without a passphrase.`,
      );
    }
    return res.stdout;
  });
}

export type Verification = { ok: true; principal: string } | { ok: false; reason: string };

/** Check a signature of `digest` against an allowed-signers file: which allowed principal signed it, or why none did. */
export async function verifyDigest(exec: Exec, digest: string, signature: string, allowedSigners: string): Promise<Verification> {
  return withTempDir(async (dir) => {
    const sigFile = join(dir, 'bundle.sig');
    await writeFile(sigFile, signature);
    const found = await exec.run('ssh-keygen', ['-Y', 'find-principals', '-s', sigFile, '-f', allowedSigners], { allowFail: true, timeoutMs: 30_000 });
    const principals = found.code === 0 ? found.stdout.split('\n').filter((l) => l.trim()) : [];
    if (!principals.length) return { ok: false, reason: `the bundle ${digest} is not signed by a key in ${allowedSigners}` };
    for (const principal of principals) {
      const res = await exec.run('ssh-keygen', ['-Y', 'verify', '-f', allowedSigners, '-I', principal.trim(), '-n', SIGNATURE_NAMESPACE, '-s', sigFile], {
        input: digest,
        allowFail: true,
        timeoutMs: 30_000,
      });
      if (res.code === 0) return { ok: true, principal: principal.trim() };
    }
    return { ok: false, reason: `the signature of the bundle ${digest} does not verify against ${allowedSigners}` };
  });
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
