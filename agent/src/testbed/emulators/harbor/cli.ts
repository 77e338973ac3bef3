// `mirrornet emulate harbor --listen ADDR [--state FILE] [--seed FILE]`: the Harbor emulator on its own,
// for users who want to try the agent without a Harbor. Runs until SIGINT/SIGTERM (or `signal` aborts).
import { readFileSync } from 'node:fs';
import { startHarborEmulator, type HarborEmulator, type HarborEmulatorOptions } from './index.js';
import { loadSeedFile } from './seed.js';

export interface EmulateHarborOptions {
  /** host:port, :port or a port (default 127.0.0.1 on a free port). */
  listen?: string;
  state?: string;
  /** Seed data and credentials (JSON or YAML: admin, projects, registries, policies, robots). */
  seed?: string;
  /** Same as `seed` (the CLI's --config). */
  config?: string;
  adminUser?: string;
  /** The admin password (--admin-password). */
  adminPassword?: string;
  /** A file holding the admin password. */
  adminPasswordFile?: string;
  version?: string;
  externalUrl?: string;
}

export interface EmulateIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Environment variables with the admin password, when no flag or file gives it (first set wins). */
const PASSWORD_ENVS = ['MIRRORNET_HARBOR_EMULATOR_PASSWORD', 'HARBOR_ADMIN_PASSWORD'] as const;
/** Harbor's installer default, used when nothing else is given (and said so). */
const DEFAULT_PASSWORD = 'Harbor12345';

/** The admin account: --admin-password, a password file, the environment, the seed file's admin, Harbor's default. */
export function emulatorAdmin(
  opts: EmulateHarborOptions,
  env: NodeJS.ProcessEnv = process.env,
): { admin?: { username: string; password: string }; note?: string } {
  const seed = opts.seed ?? opts.config;
  const seedAdmin = seed ? loadSeedFile(seed).admin : undefined;
  const username = opts.adminUser ?? seedAdmin?.username ?? 'admin';
  if (opts.adminPassword) return { admin: { username, password: opts.adminPassword } };
  if (opts.adminPasswordFile) return { admin: { username, password: readFileSync(opts.adminPasswordFile, 'utf8').trim() } };
  for (const name of PASSWORD_ENVS) {
    const value = env[name];
    if (value) return { admin: { username, password: value } };
  }
  if (seedAdmin) return {};
  return {
    admin: { username, password: DEFAULT_PASSWORD },
    note:
      `no admin password given (--admin-password, ${PASSWORD_ENVS.join(' or ')}, or the seed file's admin): ` +
      `using Harbor's default password for ${username}`,
  };
}

/** Start the emulator and keep it running; resolves with the exit code when stopped. */
export async function emulateHarbor(
  opts: EmulateHarborOptions,
  io: EmulateIo,
  signal?: AbortSignal,
  extra: Partial<HarborEmulatorOptions> = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let emulator: HarborEmulator;
  try {
    const { admin, note } = emulatorAdmin(opts, env);
    if (note) io.stderr(`note: ${note}\n`);
    const seed = opts.seed ?? opts.config;
    emulator = await startHarborEmulator({
      ...(opts.listen ? { listen: opts.listen } : {}),
      ...(admin ? { admin } : {}),
      ...(opts.state ? { stateFile: opts.state } : {}),
      ...(seed ? { seedFile: seed } : {}),
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
