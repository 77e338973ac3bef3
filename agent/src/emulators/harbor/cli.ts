// `mirrornet emulate harbor --listen ADDR [--state FILE] [--seed FILE]`: the Harbor emulator on its own,
// for users who want to try the agent without a Harbor. Runs until SIGINT/SIGTERM (or `signal` aborts).
import { readFileSync } from 'node:fs';
import { loadSeedFile, startHarborEmulator, type HarborEmulator, type HarborEmulatorOptions } from './index.js';

export interface EmulateHarborOptions {
  listen: string;
  state?: string;
  seed?: string;
  adminUser?: string;
  /** A file holding the admin password (never a password on the command line). */
  adminPasswordFile?: string;
  version?: string;
  externalUrl?: string;
}

export interface EmulateIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Environment variable with the admin password, when no file is given. */
export const PASSWORD_ENV = 'MIRRORNET_HARBOR_EMULATOR_PASSWORD';
/** Harbor's installer default, used when nothing else is given (and said so). */
export const DEFAULT_PASSWORD = 'Harbor12345';

export function emulatorAdmin(opts: EmulateHarborOptions, env: NodeJS.ProcessEnv = process.env): { admin?: { username: string; password: string }; note?: string } {
  const username = opts.adminUser ?? 'admin';
  if (opts.adminPasswordFile) return { admin: { username, password: readFileSync(opts.adminPasswordFile, 'utf8').trim() } };
  const fromEnv = env[PASSWORD_ENV];
  if (fromEnv) return { admin: { username, password: fromEnv } };
  if (opts.seed && loadSeedFile(opts.seed).admin) return {};
  return { admin: { username, password: DEFAULT_PASSWORD }, note: `no admin password given (--admin-password-file, ${PASSWORD_ENV} or the seed file's admin): using Harbor's default for ${username}` };
}

/** Start the emulator and keep it running; resolves with the exit code when stopped. */
export async function emulateHarbor(opts: EmulateHarborOptions, io: EmulateIo, signal?: AbortSignal, extra: Partial<HarborEmulatorOptions> = {}): Promise<number> {
  let emulator: HarborEmulator;
  try {
    const { admin, note } = emulatorAdmin(opts);
    if (note) io.stderr(`note: ${note}\n`);
    emulator = await startHarborEmulator({
      listen: opts.listen,
      ...(admin ? { admin } : {}),
      ...(opts.state ? { stateFile: opts.state } : {}),
      ...(opts.seed ? { seedFile: opts.seed } : {}),
      ...(opts.version ? { version: opts.version } : {}),
      ...(opts.externalUrl ? { externalUrl: opts.externalUrl } : {}),
      ...extra,
    });
  } catch (err) {
    io.stderr(`mirrornet emulate harbor: ${(err as Error).message}\n`);
    return 1;
  }
  io.stdout(`Harbor emulator listening on ${emulator.url} (API ${emulator.url}/api/v2.0, request log ${emulator.url}/_emulator/log)\n`);
  if (opts.state) io.stdout(`state: ${opts.state}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
  await emulator.close();
  io.stdout('Harbor emulator stopped.\n');
  return 0;
}
