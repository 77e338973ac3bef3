// The faults queued for the VPC emulator's next API requests (429 throttling, 5xx, resets, delays, any
// status): each is used once, by the first API request it matches.
import type { Fault } from './schema.js';

export class FaultQueue {
  private faults: Fault[] = [];

  /** Queue faults already checked against the schema. */
  add(list: readonly Fault[]): void {
    this.faults.push(...list);
  }

  /** The queue itself (the control endpoint shows it as it is). */
  list(): Fault[] {
    return this.faults;
  }

  clear(): void {
    this.faults = [];
  }

  /** The first fault that matches this request, taken off the queue. */
  take(method: string, path: string): Fault | undefined {
    const at = this.faults.findIndex((f) => (!f.match?.method || f.match.method.toUpperCase() === method) && (!f.match?.path || path.includes(f.match.path)));
    if (at < 0) return undefined;
    const [f] = this.faults.splice(at, 1);
    return f;
  }
}
