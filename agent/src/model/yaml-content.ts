// What the YAML parser accepts but a configuration file must not hold: what the parser only warns about
// (unknown directives, tags it cannot resolve); explicit tags beyond plain strings, numbers, booleans,
// null, lists and mappings (`!!binary` becomes bytes, `!!set` a mapping of nulls, `!foo` a silent string);
// control characters inside strings, keys included (a NUL cuts a value short in C tools, an escape rewrites a
// terminal); credentials inside URLs (`https://user:token@host`: a secret in the repository); and the keys
// `__proto__`, `constructor`, `prototype`, which reach JavaScript object prototypes.
import { isPair, isScalar, visit, type Document } from 'yaml';
import { hasUrlCredentials } from '../redact.js';

/** One thing wrong with the content of a well-formed document, at an offset in its text. */
export interface ContentProblem {
  offset: number;
  rule: string;
  message: string;
}

const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

/**
 * The index of the first C0 control character or DEL in `s`, or -1. Tab and newline are legitimate in values
 * (multi-line strings); a key holds none at all.
 */
function controlCharacterIndex(s: string, isKey: boolean): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && (isKey || (c !== 0x09 && c !== 0x0a))) || c === 0x7f) return i;
  }
  return -1;
}
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** `tag:yaml.org,2002:binary` as the user wrote it: `!!binary`. */
function shownTag(tag: string): string {
  return tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
}

const tagMessage = (tag: string) =>
  `The YAML tag ${shownTag(tag)} is not allowed: values are plain strings, numbers, booleans, lists and mappings; remove the tag.`;

/**
 * A control character in a string (a value, or a key when `isKey`): where it stands in the text, or where the string
 * starts when it was written as an escape.
 */
function controlCharacterProblem(text: string, value: string, range: [number, number, number] | null | undefined, isKey = false): ContentProblem | undefined {
  const found = controlCharacterIndex(value, isKey);
  if (found < 0) return undefined;
  const start = range?.[0] ?? 0;
  const raw = range ? text.indexOf(value.charAt(found), start) : -1;
  const code = `U+${value.charCodeAt(found).toString(16).toUpperCase().padStart(4, '0')}`;
  return {
    offset: raw >= 0 && range && raw < range[1] ? raw : start,
    rule: 'yaml/control-character',
    message: isKey
      ? `This key holds the control character ${code}; keys are plain text without control characters: remove it.`
      : `This string holds the control character ${code}; only tab and newline are allowed in strings: remove it.`,
  };
}

/** A URL with credentials before its host, found by the one redaction layer's URL patterns. */
function urlCredentialsProblem(value: string, range: [number, number, number] | null | undefined): ContentProblem | undefined {
  if (!value.includes('@') || !hasUrlCredentials(value)) return undefined;
  return {
    offset: range?.[0] ?? 0,
    rule: 'secrets/url-credentials',
    message:
      'This URL holds credentials (user:password@ or token@ before the host), and secrets never live in the repository: remove them from the URL, ' +
      'give them as a secret reference (env:NAME or file:/absolute/path) in the field meant for them, and rotate them if they were ever committed.',
  };
}

/**
 * Parser warnings, explicit tags outside the core schema, control characters in keys and values, URLs with credentials
 * and reserved keys, in the order of the text.
 */
export function contentProblems(doc: Document.Parsed, text: string): ContentProblem[] {
  const problems: ContentProblem[] = [];
  for (const warning of doc.warnings) {
    const message = warning.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const unresolved = warning.code === 'TAG_RESOLVE_FAILED' ? /^Unresolved tag: (\S+)/.exec(message)?.[1] : undefined;
    if (unresolved === undefined) {
      problems.push({ offset: warning.pos[0], rule: 'yaml/warning', message: `YAML warning: ${message}. Fix the YAML at this line.` });
    } else if (CORE_TAGS.has(unresolved)) {
      const shown = shownTag(unresolved);
      problems.push({ offset: warning.pos[0], rule: 'yaml/tag', message: `This value is not ${shown}: remove the tag ${shown} or fix the value.` });
    } // other unresolved tags are reported below, from the tagged node
  }
  visit(doc, (key, node) => {
    if (isPair(node)) {
      const key = node.key;
      if (isScalar(key) && typeof key.value === 'string') {
        if (RESERVED_KEYS.has(key.value)) {
          const message = `The key "${key.value}" is reserved (it reaches JavaScript object prototypes): rename or remove it.`;
          problems.push({ offset: key.range?.[0] ?? 0, rule: 'yaml/reserved-key', message });
        }
        const problem = controlCharacterProblem(text, key.value, key.range, true);
        if (problem) problems.push(problem);
      }
      return;
    }
    // Values (keys are checked with their pair above).
    if (key !== 'key' && isScalar(node) && typeof node.value === 'string') {
      const problem = controlCharacterProblem(text, node.value, node.range) ?? urlCredentialsProblem(node.value, node.range);
      if (problem) problems.push(problem);
    }
    if (!node || typeof node !== 'object' || !('tag' in node) || typeof node.tag !== 'string' || CORE_TAGS.has(node.tag)) return;
    problems.push({ offset: (node as { range?: [number, number, number] }).range?.[0] ?? 0, rule: 'yaml/tag', message: tagMessage(node.tag) });
  });
  return problems.sort((a, b) => a.offset - b.offset);
}
