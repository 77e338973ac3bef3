// A finding: one thing the validator has to say about one place in one file.

/** A notice informs and never fails validation (GitHub shows it as a `::notice` annotation). */
export type Severity = 'error' | 'warning' | 'notice';

export interface Finding {
  /** Rule id, e.g. `cidr/overlap`. */
  rule: string;
  severity: Severity;
  /** File relative to the repository root, with forward slashes. */
  file: string;
  /** 1-based line and column; 1:1 when the finding is about the whole file. */
  line: number;
  column: number;
  /** A sentence that says what is wrong and what to do. Never contains a secret. */
  message: string;
}

export function compareFindings(a: Finding, b: Finding): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule);
}
