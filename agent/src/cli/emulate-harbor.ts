// Placeholder until the Harbor emulator is wired (see emulate.ts).
import type { Logger } from 'pino';
import { UserError } from './errors.js';
import type { EmulateOptions } from './emulate.js';
import type { Io } from './main.js';

export async function emulateHarbor(_opts: EmulateOptions, _io: Io, _log: Logger): Promise<number> {
  throw new UserError('The Harbor emulator is not available in this build.', 2);
}
