// The one place that runs `ssh-keygen -Y`: signing texts in a namespace with an SSH key, and finding which
// principal of an allowed-signers file signed a text. Bundles (bundle/sign.ts, namespace mirrornet-bundle) and
// operators' requests to a core (report/site/operator-auth.ts, namespace mirrornet-operator) both sign this way;
// each says in its own sentences what a failure means for its user.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Exec } from './exec.js';

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
 * The key that signs: its contents (a resolved secret reference, written to a private temporary file and removed
 * at once), or the path of a key file (a public key's private half is then taken from ssh-agent).
 */
export type SshSigningKey = { privateKey: string } | { keyFile: string };

export interface SshSignatures {
  /** The armored signature of each text that was signed (all of them, unless ssh-keygen failed). */
  signatures: Map<string, string>;
  /** ssh-keygen's first line of complaint, when it failed (never key material). */
  problem: string;
}

/** Sign each of `texts` in `namespace`, in one ssh-keygen run however many there are. */
export async function sshSign(exec: Exec, namespace: string, texts: readonly string[], key: SshSigningKey): Promise<SshSignatures> {
  return withTempDir(async (dir) => {
    let keyFile: string;
    if ('privateKey' in key) {
      keyFile = join(dir, 'key');
      await writeFile(keyFile, key.privateKey.endsWith('\n') ? key.privateKey : `${key.privateKey}\n`, { mode: 0o600 });
    } else {
      keyFile = key.keyFile;
    }
    const files = texts.map((_t, i) => join(dir, `m${i}`));
    await Promise.all(files.map((f, i) => writeFile(f, texts[i]!)));
    const res = await exec.run('ssh-keygen', ['-q', '-Y', 'sign', '-n', namespace, '-f', keyFile, ...files], {
      allowFail: true,
      timeoutMs: 60_000 + texts.length * 50,
    });
    const signatures = new Map<string, string>();
    if (res.code === 0) {
      for (const [i, f] of files.entries()) {
        const sig = await readFile(`${f}.sig`, 'utf8').catch(() => '');
        if (sig.includes('BEGIN SSH SIGNATURE')) signatures.set(texts[i]!, sig);
      }
    }
    return { signatures, problem: res.code === 0 ? '' : firstLine(res.stderr) };
  });
}

/** Who signed: an allowed principal, or nobody (`unknownSigner`: the key is not in the file at all). */
export type SshVerification = { ok: true; principal: string } | { ok: false; unknownSigner: boolean };

/**
 * Check an armored `signature` of `text` in `namespace` against the allowed-signers file `allowedSigners` (which
 * the caller has checked it can read: what an unreadable file means is the caller's sentence).
 */
export async function sshVerify(exec: Exec, namespace: string, text: string, signature: string, allowedSigners: string): Promise<SshVerification> {
  return withTempDir(async (dir) => {
    const sigFile = join(dir, 'text.sig');
    await writeFile(sigFile, signature);
    const verify = (principal: string) =>
      exec.run('ssh-keygen', ['-Y', 'verify', '-f', allowedSigners, '-I', principal, '-n', namespace, '-s', sigFile], {
        input: text,
        allowFail: true,
        timeoutMs: 30_000,
      });
    // The usual file names one signer: ask ssh-keygen once (every agent checks every revision); else find who signed.
    const only = await soleLiteralPrincipal(allowedSigners);
    if (only !== undefined && (await verify(only)).code === 0) return { ok: true, principal: only };
    const found = await exec.run('ssh-keygen', ['-Y', 'find-principals', '-s', sigFile, '-f', allowedSigners], { allowFail: true, timeoutMs: 30_000 });
    const principals = found.code === 0 ? found.stdout.split('\n').filter((l) => l.trim()) : [];
    if (!principals.length) return { ok: false, unknownSigner: true };
    for (const principal of principals) {
      if ((await verify(principal.trim())).code === 0) return { ok: true, principal: principal.trim() };
    }
    return { ok: false, unknownSigner: false };
  });
}

/** The principal of an allowed-signers file of one line naming one principal without a pattern; else undefined. */
async function soleLiteralPrincipal(file: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const principals = lines.length === 1 ? lines[0]!.trim().split(/\s+/)[0] : undefined;
  return principals && !/[*?,!"]/.test(principals) ? principals : undefined;
}
