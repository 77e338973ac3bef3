// What the YAML parser accepts but a configuration file must not hold: what the parser only warns about
// (unknown directives, tags it cannot resolve) and explicit tags beyond plain strings, numbers, booleans,
// null, lists and mappings (`!!binary` becomes bytes, `!!set` a mapping of nulls, `!foo` a silent string).
import { visit, type Document } from 'yaml';

/** One thing wrong with the content of a well-formed document, at an offset in its text. */
export interface ContentProblem {
  offset: number;
  rule: string;
  message: string;
}

const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

/** `tag:yaml.org,2002:binary` as the user wrote it: `!!binary`. */
function shownTag(tag: string): string {
  return tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
}

const tagMessage = (tag: string) =>
  `The YAML tag ${shownTag(tag)} is not allowed: values are plain strings, numbers, booleans, lists and mappings; remove the tag.`;

/** Parser warnings and explicit tags outside the core schema, in the order of the text. */
export function contentProblems(doc: Document.Parsed): ContentProblem[] {
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
  visit(doc, (_, node) => {
    if (!node || typeof node !== 'object' || !('tag' in node) || typeof node.tag !== 'string' || CORE_TAGS.has(node.tag)) return;
    problems.push({ offset: (node as { range?: [number, number, number] }).range?.[0] ?? 0, rule: 'yaml/tag', message: tagMessage(node.tag) });
  });
  return problems.sort((a, b) => a.offset - b.offset);
}
