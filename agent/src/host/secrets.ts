// Secret references (env:NAME, file:/path) resolved on the host at apply time; values never logged.
import { MirrornetError } from '../errors.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export class SecretError extends MirrornetError {
  constructor(ref: string, why: string, opts?: { cause?: unknown }) {
    super(`The secret ${ref} cannot be resolved: ${why}.`, { cause: opts?.cause, message: `secret ${ref}: ${why}` });
  }
}

export interface SecretResolver {
  resolve(ref: string): Promise<string>;
}

/** `file:` paths are read under `root` (the same prefix as every other host path). */
export function hostSecrets(opts: { env?: NodeJS.ProcessEnv; root?: string } = {}): SecretResolver {
  const env = opts.env ?? process.env;
  const root = opts.root ?? '/';
  return {
    async resolve(ref) {
      if (ref.startsWith('env:')) {
        const name = ref.slice(4);
        const value = env[name];
        if (value === undefined || value === '') throw new SecretError(ref, `the environment variable ${name} is not set on this host`);
        return value;
      }
      if (ref.startsWith('file:')) {
        const path = ref.slice(5);
        try {
          return (await readFile(root === '/' ? path : join(root, path), 'utf8')).trim();
        } catch (cause) {
          throw new SecretError(ref, `the file ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
        }
      }
      throw new SecretError(ref, 'it is not env:NAME or file:/path');
    },
  };
}

export const MASK = '(secret)';
