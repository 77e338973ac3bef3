// Errors the CLI shows to its user: a MirrornetError with the exit code the command ends with.
import { MirrornetError } from '../errors.js';

export class UserError extends MirrornetError {
  constructor(
    userMessage: string,
    readonly exitCode = 1,
    opts?: { cause?: unknown },
  ) {
    super(userMessage, opts);
  }
}

/** Wrong flags or arguments: exit 2, like every usage error. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, 2);
  }
}
