// A configuration file as read from the repository, with what is needed to point at a line and column.
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { Finding, Severity } from './finding.js';

export type PathSegment = string | number;

export interface SourceFile {
  /** Relative to the repository root, forward slashes. */
  path: string;
  text: string;
  lineCounter: LineCounter;
  doc: Document.Parsed;
}

export interface Position {
  line: number;
  column: number;
}

const pairIndexes = new WeakMap<object, Map<string, Pair<Node, Node>>>();

/** The pair of a map with `key` (the first, like the parser), from an index built once per map: files may hold 100k keys. */
function pairWithKey(map: { items: unknown[] }, key: string): Pair<Node, Node> | undefined {
  let index = pairIndexes.get(map);
  if (!index) {
    index = new Map();
    for (const item of map.items) {
      if (isPair(item) && isScalar(item.key) && !index.has(String(item.key.value))) index.set(String(item.key.value), item as Pair<Node, Node>);
    }
    pairIndexes.set(map, index);
  }
  return index.get(key);
}

/**
 * Where a path points in the file. `key: true` points at the key of the last segment (for unknown keys);
 * a path that does not exist points at the deepest node that does (e.g. the map missing a required key).
 */
export function locate(file: SourceFile, path: readonly PathSegment[], opts: { key?: boolean } = {}): Position {
  let node: unknown = file.doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = pairWithKey(node, String(seg));
      if (!pair) break;
      if (last && opts.key) {
        offset = rangeStart(pair.key) ?? offset;
        break;
      }
      node = pair.value;
      offset = rangeStart(pair.value) ?? rangeStart(pair.key) ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      node = item;
      offset = rangeStart(item) ?? offset;
    } else {
      break;
    }
  }
  const pos = file.lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function rangeStart(node: unknown): number | undefined {
  if (node && typeof node === 'object' && 'range' in node) {
    const range = (node as { range?: [number, number, number] | null }).range;
    if (range) return range[0];
  }
  return undefined;
}

/** Build a finding that points at `path` in `file`. */
export function findingAt(
  file: SourceFile,
  path: readonly PathSegment[],
  rule: string,
  severity: Severity,
  message: string,
  opts: { key?: boolean } = {},
): Finding {
  const pos = locate(file, path, opts);
  return { rule, severity, file: file.path, line: pos.line, column: pos.column, message };
}

/** `links[0].local.publicKey` */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out || '(top level)';
}
