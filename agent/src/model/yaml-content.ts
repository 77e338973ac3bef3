// What the YAML parser accepts but a configuration file must not hold: what the parser only warns about
// (unknown directives, tags it cannot resolve); explicit tags beyond plain strings, numbers, booleans,
// null, lists and mappings (`!!binary` becomes bytes, `!!set` a mapping of nulls, `!foo` a silent string);
// control characters inside string values (a NUL cuts a value short in C tools, an escape rewrites a terminal);
// and the keys `__proto__`, `constructor`, `prototype`, which reach JavaScript object prototypes.
import { isPair, isScalar, visit, type Document } from 'yaml';

/** One thing wrong with the content of a well-formed document, at an offset in its text. */
export interface ContentProblem {
  offset: number;
  rule: string;
  message: string;
}

const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

/** The index of the first C0 control character or DEL in `s` (tab and newline are legitimate in multi-line strings), or -1. */
function controlCharacterIndex(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0x7f) return i;
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

/** A control character in a string: where it stands in the text, or where the string starts when it was written as an escape. */
function controlCharacterProblem(text: string, value: string, range: [number, number, number] | null | undefined): ContentProblem | undefined {
  const found = controlCharacterIndex(value);
  if (found < 0) return undefined;
  const start = range?.[0] ?? 0;
  const raw = range ? text.indexOf(value.charAt(found), start) : -1;
  const code = `U+${value.charCodeAt(found).toString(16).toUpperCase().padStart(4, '0')}`;
  return {
    offset: raw >= 0 && range && raw < range[1] ? raw : start,
    rule: 'yaml/control-character',
    message: `This string holds the control character ${code}; only tab and newline are allowed in strings: remove it.`,
  };
}

/** Parser warnings, explicit tags outside the core schema, control characters in strings and reserved keys, in the order of the text. */
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
      if (isScalar(key) && typeof key.value === 'string' && RESERVED_KEYS.has(key.value)) {
        const message = `The key "${key.value}" is reserved (it reaches JavaScript object prototypes): rename or remove it.`;
        problems.push({ offset: key.range?.[0] ?? 0, rule: 'yaml/reserved-key', message });
      }
      return;
    }
    // Values only: a key with a control character is an unknown key, and its finding shows the character escaped.
    if (key !== 'key' && isScalar(node) && typeof node.value === 'string') {
      const problem = controlCharacterProblem(text, node.value, node.range);
      if (problem) problems.push(problem);
    }
    if (!node || typeof node !== 'object' || !('tag' in node) || typeof node.tag !== 'string' || CORE_TAGS.has(node.tag)) return;
    problems.push({ offset: (node as { range?: [number, number, number] }).range?.[0] ?? 0, rule: 'yaml/tag', message: tagMessage(node.tag) });
  });
  return problems.sort((a, b) => a.offset - b.offset);
}
