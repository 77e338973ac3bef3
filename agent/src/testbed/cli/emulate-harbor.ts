// `mirrornet emulate harbor`: the Harbor v2.15 API emulator on its own, until SIGINT/SIGTERM.
import type { Logger } from 'pino';
import { emulateHarbor as run } from '../emulators/harbor/cli.js';
import type { EmulateOptions } from './emulate.js';
import type { Io } from '../../cli/io.js';

export async function emulateHarbor(opts: EmulateOptions, io: Io, _log: Logger): Promise<number> {
  return run(
    {
      ...(opts.listen ? { listen: opts.listen } : {}),
      ...(opts.state ? { state: opts.state } : {}),
      ...(opts.config ? { config: opts.config } : {}),
      ...(opts.adminPassword ? { adminPassword: opts.adminPassword } : {}),
    },
    io,
  );
}
