// Duplicate keys, found in one pass with a set per mapping: the parser's own check compares each key with
// every key before it, which takes minutes on a file of 100k keys (still under the 1 MiB limit).
import { isScalar, visit, type Document } from 'yaml';

/** The offsets of keys that repeat an earlier key of the same mapping (the same scalar value, as the parser compares). */
export function duplicateKeyOffsets(doc: Document.Parsed): number[] {
  const offsets: number[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key) || (typeof key.value === 'number' && Number.isNaN(key.value))) continue;
        if (seen.has(key.value)) offsets.push(key.range?.[0] ?? 0);
        else seen.add(key.value);
      }
    },
  });
  return offsets;
}
