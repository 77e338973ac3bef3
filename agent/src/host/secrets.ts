// Secret references (env:NAME, file:/path) resolved on the host at apply time. Every value resolved here is
// registered with the redaction layer (redact.ts), so it is masked in every log, error, output and message;
// a value given where a reference was expected is never repeated in the error that refuses it.
import { MirrornetError } from '../errors.js';
import { isSecretReference, registerSecret } from '../redact.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export class SecretError extends MirrornetError {
  /** `ref` is shown; pass undefined when what was given is not a reference (it may be the secret itself). */
  constructor(ref: string | undefined, why: string, opts?: { cause?: unknown }) {
    const what = ref === undefined ? 'A secret' : `The secret ${ref}`;
    super(`${what} cannot be resolved: ${why}.`, { cause: opts?.cause, message: `secret ${ref ?? '(not a reference)'}: ${why}` });
  }
}

/** Why a value given where a secret reference was expected is refused, without repeating it. */
const NOT_A_REFERENCE =
  'a secret reference was expected (env:NAME for an environment variable on the host, or file:/absolute/path for a file on it), ' +
  'and the value given is not one; it is not repeated here: if it is the secret itself, rotate it';

export interface SecretResolver {
  resolve(ref: string): Promise<string>;
}

/** `file:` paths are read under `root` (the same prefix as every other host path). */
export function hostSecrets(opts: { env?: NodeJS.ProcessEnv; root?: string } = {}): SecretResolver {
  const env = opts.env ?? process.env;
  const root = opts.root ?? '/';
  const resolved = (value: string): string => {
    registerSecret(value);
    return value;
  };
  return {
    async resolve(ref) {
      if (!isSecretReference(ref)) {
        registerSecret(ref);
        throw new SecretError(undefined, NOT_A_REFERENCE);
      }
      if (ref.startsWith('env:')) {
        const name = ref.slice(4);
        const value = env[name];
        if (value === undefined || value === '') throw new SecretError(ref, `the environment variable ${name} is not set on this host`);
        return resolved(value);
      }
      const path = ref.slice(5);
      try {
        return resolved((await readFile(root === '/' ? path : join(root, path), 'utf8')).trim());
      } catch (cause) {
        throw new SecretError(ref, `the file ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
      }
    },
  };
}

export const MASK = '(secret)';
