// What the benchmarks share: their result table and a median.

export type Out = (s: string) => void;

export interface Row {
  what: string;
  value: string;
  target?: string;
  verdict?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** measurement | value | target | verdict, values right-aligned. */
export function table(out: Out, rows: Row[]): void {
  const header = ['measurement', 'value', 'target', 'verdict'];
  const cells = rows.map((r) => [r.what, r.value, r.target ?? '', r.verdict ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((s, i) => (i === 1 ? s.padStart(widths[i]!) : s.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  out(line(header));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) out(line(c));
}
