// Errors the CLI shows to its user: a sentence that says what went wrong and what to do, and an exit code.

export class UserError extends Error {
  constructor(
    readonly userMessage: string,
    readonly exitCode = 1,
    opts?: { cause?: unknown },
  ) {
    super(userMessage, opts);
    this.name = 'UserError';
  }
}

/** Wrong flags or arguments: exit 2, like every usage error. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}
