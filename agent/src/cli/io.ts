// Where the CLI writes: passed into every command so tests can capture it.
export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  color: boolean;
}
