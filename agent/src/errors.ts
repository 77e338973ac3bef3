// The one error base. Every error mirrornet raises on purpose carries a sentence for its user — what went
// wrong and what to do — and, where it wraps another, that error as `cause`. The CLI's one handler and the
// agent's loop show `userMessage`; anything that is not a MirrornetError is an internal error.
export class MirrornetError extends Error {
  readonly userMessage: string;
  /** `message` is for logs when it should differ from the sentence shown to the user. */
  constructor(userMessage: string, opts: { cause?: unknown; message?: string } = {}) {
    super(opts.message ?? userMessage, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.userMessage = userMessage;
  }
}

/** The message of any thrown value, for logs (a MirrornetError's `message`, not its sentence). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The sentence to show for any thrown value: a MirrornetError's own, else the error's message. */
export function userMessageOf(err: unknown): string {
  if (err instanceof MirrornetError) return err.userMessage;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * A failure of a source of the desired state (a registry, a site's gateway). `unreachable`: the source did not
 * answer (down, no route, timed out, a 5xx or 429), as opposed to answering with a refusal — an agent keeps its
 * applied revision true and asks again on its next tick.
 */
export class SourceError extends MirrornetError {
  readonly unreachable: boolean;
  constructor(userMessage: string, opts: { cause?: unknown; message?: string; unreachable?: boolean } = {}) {
    const { unreachable = false, ...rest } = opts;
    super(userMessage, rest);
    this.unreachable = unreachable;
  }
}
