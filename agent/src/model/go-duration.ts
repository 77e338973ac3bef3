// The model's durations (30s, 15m, 24h, 7d, 250ms) as Go's time.ParseDuration reads them, for the consumers
// written in Go (containerd's hosts.toml, Harbor's harbor.yml): Go has no `d` unit, and it refuses a value
// beyond what an int64 of nanoseconds holds. Nothing is rounded: every model duration is exact in Go. The one
// reading of a model duration: the schema checks its text with MODEL_DURATION, and its value (the chat policy's
// windows, the agent's --interval) comes from goDurationNs.

const NS_PER_UNIT = { ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n } as const;

/** A model duration: a whole number and one unit. The generated JSON Schemas carry this pattern as it is written. */
export const MODEL_DURATION = /^\d+(ms|s|m|h|d)$/;

/** The longest duration time.ParseDuration accepts: 2^63-1 ns, about 2562047h (Go's time/format.go). */
export const GO_MAX_DURATION_NS = 2n ** 63n - 1n;

/** The number and unit of a model duration, or undefined when the text is not one. */
function partsOf(d: string): { n: bigint; unit: keyof typeof NS_PER_UNIT } | undefined {
  const m = MODEL_DURATION.exec(d);
  if (!m) return undefined;
  const unit = m[1] as keyof typeof NS_PER_UNIT;
  return { n: BigInt(d.slice(0, -unit.length)), unit };
}

/** Go's syntax for a model duration: 7d -> 168h; the other units are Go's own and pass through unchanged. */
export function goDuration(d: string): string {
  const p = partsOf(d);
  return p?.unit === 'd' ? `${p.n * 24n}h` : d;
}

/** The nanoseconds Go reads from a model duration, or undefined when the text is not one (the schema reports it). */
export function goDurationNs(d: string): bigint | undefined {
  const p = partsOf(d);
  return p && p.n * NS_PER_UNIT[p.unit];
}
