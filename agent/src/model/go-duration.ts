// The model's durations (30s, 15m, 24h, 7d, 250ms) as Go's time.ParseDuration reads them, for the consumers
// written in Go (containerd's hosts.toml, Harbor's harbor.yml): Go has no `d` unit, and it refuses a value
// beyond what an int64 of nanoseconds holds. Nothing is rounded: every model duration is exact in Go. The one
// reading of a model duration's value (the chat policy's windows take it in milliseconds from here too).

const NS_PER_UNIT = { ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n } as const;

/** The longest duration time.ParseDuration accepts: 2^63-1 ns, about 2562047h (Go's time/format.go). */
export const GO_MAX_DURATION_NS = 2n ** 63n - 1n;

/** Go's syntax for a model duration: 7d -> 168h; the other units are Go's own and pass through unchanged. */
export function goDuration(d: string): string {
  const m = /^(\d+)d$/.exec(d);
  return m ? `${BigInt(m[1]!) * 24n}h` : d;
}

/** The nanoseconds Go reads from a model duration, or undefined when the text is not one (the schema reports it). */
export function goDurationNs(d: string): bigint | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  return m ? BigInt(m[1]!) * NS_PER_UNIT[m[2] as keyof typeof NS_PER_UNIT] : undefined;
}
