// Signing a bundle with an SSH key, and checking that signature: `ssh-keygen -Y sign` / `-Y verify` in the
// namespace `mirrornet-bundle`, over the manifest digest (the text `sha256:<hex>`, no newline), with the same
// allowed-signers files the agent uses for commits. The signature travels as its own small OCI artifact in the
// bundle's repository, tagged `sha256-<hex>.sig` after the digest it signs (as cosign does), so any registry
// that stores images stores it too; its `subject` names the bundle for registries that list referrers.
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

/** The media type of the layer that holds a signature. */
export const SIGNATURE_LAYER_MEDIA_TYPE = SIGNATURE_MEDIA_TYPES.signature;

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
 * Sign each of `digests` with a private key given as its contents (a resolved secret reference), in one
 * ssh-keygen run however many there are (a fleet's bundle signs one manifest per site). The key is written to
 * a private temporary file for ssh-keygen and removed at once; the armored signatures are returned by digest.
 */
export async function signDigests(exec: Exec, digests: readonly string[], privateKey: string): Promise<Map<string, string>> {
  return withTempDir(async (dir) => {
    const keyFile = join(dir, 'key');
    await writeFile(keyFile, privateKey.endsWith('\n') ? privateKey : `${privateKey}\n`, { mode: 0o600 });
    const files = digests.map((_d, i) => join(dir, `m${i}`));
    await Promise.all(files.map((f, i) => writeFile(f, digests[i]!)));
    const res = await exec.run('ssh-keygen', ['-q', '-Y', 'sign', '-n', SIGNATURE_NAMESPACE, '-f', keyFile, ...files], {
      allowFail: true,
      timeoutMs: 60_000 + digests.length * 50,
    });
    const out = new Map<string, string>();
    if (res.code === 0) {
      for (const [i, f] of files.entries()) {
        const sig = await readFile(`${f}.sig`, 'utf8').catch(() => '');
        if (sig.includes('BEGIN SSH SIGNATURE')) out.set(digests[i]!, sig);
      }
    }
    if (out.size !== new Set(digests).size) {
      throw new SignatureError(
        `ssh-keygen could not sign the bundle (${firstLine(res.stderr)}): --sign-key must reference an SSH private key without a passphrase.`,
      );
    }
    return out;
  });
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
  return withTempDir(async (dir) => {
    const sigFile = join(dir, 'bundle.sig');
    await writeFile(sigFile, signature);
    const verify = (principal: string) =>
      exec.run('ssh-keygen', ['-Y', 'verify', '-f', allowedSigners, '-I', principal, '-n', SIGNATURE_NAMESPACE, '-s', sigFile], {
        input: digest,
        allowFail: true,
        timeoutMs: 30_000,
      });
    // The usual file names one signer: ask ssh-keygen once (every agent checks every revision); else find who signed.
    const only = await soleLiteralPrincipal(allowedSigners);
    if (only !== undefined && (await verify(only)).code === 0) return { ok: true, principal: only };
    const found = await exec.run('ssh-keygen', ['-Y', 'find-principals', '-s', sigFile, '-f', allowedSigners], { allowFail: true, timeoutMs: 30_000 });
    const principals = found.code === 0 ? found.stdout.split('\n').filter((l) => l.trim()) : [];
    if (!principals.length) return { ok: false, reason: `the bundle ${digest} is not signed by a key in ${allowedSigners}` };
    for (const principal of principals) {
      if ((await verify(principal.trim())).code === 0) return { ok: true, principal: principal.trim() };
    }
    return { ok: false, reason: `the signature of the bundle ${digest} does not verify against ${allowedSigners}` };
  });
}

/** The principal of an allowed-signers file of one line naming one principal without a pattern; else undefined. */
async function soleLiteralPrincipal(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const principals = lines.length === 1 ? lines[0]!.trim().split(/\s+/)[0] : undefined;
  return principals && !/[*?,!"]/.test(principals) ? principals : undefined;
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
