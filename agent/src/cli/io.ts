// Where the CLI writes: passed into every command so tests can capture it.
import { redactText } from '../redact.js';

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  color: boolean;
}

/** The same streams with every credential masked (redact.ts): whatever a command prints, in any format. */
export function redactedIo(io: Io): Io {
  return { ...io, stdout: (s) => io.stdout(redactText(s)), stderr: (s) => io.stderr(redactText(s)) };
}
