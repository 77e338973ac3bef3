// Schema errors as findings: each zod issue becomes a sentence that says what to do, at the position in
// the file it is about (unknown keys with the keys allowed there, missing keys at their parent, typos
// with "did you mean"). Secret-looking values are never echoed.
import type { z } from 'zod';
import type { Finding } from './finding.js';
import { findingAt, formatPath, type PathSegment, type SourceFile } from './source.js';
import { SECRET_REF_MESSAGE } from './field-formats.js';
import { keysAt } from './schema-walk.js';
import { didYouMean } from './suggest.js';

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v}`;
}

type Issue = z.core.$ZodIssue;

/** Turn one zod issue into findings with a position and a sentence that says what to do. */
export function issueToFindings(file: SourceFile, schema: z.ZodType, data: unknown, issue: Issue): Finding[] {
  const path = issue.path.filter((s): s is string | number => typeof s !== 'symbol');
  const where = formatPath(path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysAt(schema, path, data);
      return issue.keys.map((key) => {
        const guess = didYouMean(key, known);
        const hint = guess ? ` Did you mean "${guess}"?` : '';
        const list = known.length ? ` Allowed here: ${known.join(', ')}.` : '';
        return findingAt(file, [...path, key], 'schema/unknown-key', 'error', `Unknown key "${key}" in ${where}.${hint}${list}`, { key: true });
      });
    }
    case 'invalid_type': {
      const actual = valueAt(data, path);
      if (actual === undefined) {
        const key = path[path.length - 1];
        const parent = path.slice(0, -1);
        return [
          findingAt(
            file,
            parent,
            'schema/required',
            'error',
            `Missing required key "${String(key)}" in ${formatPath(parent)}: add it (expected ${issue.expected}).`,
          ),
        ];
      }
      return [findingAt(file, path, 'schema/type', 'error', `${where} must be ${article(issue.expected)}, not ${describeValue(actual)}.`)];
    }
    case 'invalid_value': {
      const actual = valueAt(data, path);
      if (actual === undefined) {
        const key = path[path.length - 1];
        const parent = path.slice(0, -1);
        const options = issue.values.map((v) => String(v));
        return [
          findingAt(
            file,
            parent,
            'schema/required',
            'error',
            `Missing required key "${String(key)}" in ${formatPath(parent)}: add it (one of ${options.join(', ')}).`,
          ),
        ];
      }
      const options = issue.values.map((v) => String(v));
      const guess = typeof actual === 'string' ? didYouMean(actual, options) : undefined;
      const hint = guess && guess !== actual ? ` Did you mean "${guess}"?` : '';
      return [findingAt(file, path, 'schema/value', 'error', `${where} must be one of ${options.join(', ')}, not ${JSON.stringify(actual)}.${hint}`)];
    }
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator) {
        const options = (issue as { options?: unknown[] }).options?.map(String) ?? [];
        const actual = valueAt(data, path);
        const guess = typeof actual === 'string' ? didYouMean(actual, options) : undefined;
        const hint = guess ? ` Did you mean "${guess}"?` : '';
        return [findingAt(file, path, 'schema/value', 'error', `${where} must be one of ${options.join(', ')}, not ${JSON.stringify(actual)}.${hint}`)];
      }
      return [findingAt(file, path, 'schema/type', 'error', `${where} has the wrong shape: ${issue.message}.`)];
    }
    case 'invalid_format': {
      if (issue.message === SECRET_REF_MESSAGE) {
        // Never echo the value: it may be a real secret.
        return [findingAt(file, path, 'secrets/plaintext', 'error', `${where} ${SECRET_REF_MESSAGE}. Rotate the secret if it was ever committed.`)];
      }
      const actual = valueAt(data, path);
      return [findingAt(file, path, 'schema/format', 'error', `${where} ${issue.message}; got ${JSON.stringify(actual)}.`)];
    }
    case 'too_small':
    case 'too_big': {
      const actual = valueAt(data, path);
      const shown = Array.isArray(actual) ? `${actual.length} entries` : JSON.stringify(actual);
      const bound = issue.code === 'too_small' ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
      const unit = issue.origin === 'array' ? ' entries' : issue.origin === 'string' ? ' characters' : '';
      return [findingAt(file, path, 'schema/range', 'error', `${where} must be ${bound}${unit}; got ${shown}.`)];
    }
    case 'custom':
      // The schemas' refinements compare two numbers of one mapping (from <= to, min <= max).
      return [findingAt(file, path, 'schema/range', 'error', `${where}: ${issue.message}.`)];
    default:
      return [findingAt(file, path, 'schema/type', 'error', `${where}: ${issue.message}.`)];
  }
}

function article(expected: string): string {
  const word = expected === 'int' ? 'integer' : expected;
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}
