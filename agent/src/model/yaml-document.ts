// One model file's text as exactly one YAML document, parsed with source positions (for findings that
// point at a line and column) and turned into plain data with a cap on alias expansion. Syntax errors
// point where the user has to look, e.g. at the bracket or quote that is never closed.
import { isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { Finding } from './finding.js';
import { fileFinding, invalidObjectsOf, type InvalidObject } from './file-findings.js';
import type { SourceFile } from './source.js';
import { contentProblems } from './yaml-content.js';
import { duplicateKeyOffsets } from './yaml-keys.js';

const MAX_ALIAS_COUNT = 100;

/** A well-formed document with its data, or the findings that say why the file cannot be used. */
export type ParsedDocument =
  | { ok: true; file: SourceFile; data: unknown }
  | {
      ok: false;
      findings: Finding[];
      /** What the file meant to be, so references to it are not reported as dangling. */
      invalid: InvalidObject[];
      /** Set when the YAML is well-formed but its data cannot be built (the file still counts as read). */
      file?: SourceFile;
    };

export function parseModelDocument(path: string, text: string): ParsedDocument {
  const lineCounter = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false }) as Document.Parsed[];
  } catch (cause) {
    return { ok: false, findings: [fileFinding(path, 'yaml/syntax', `This file cannot be parsed as YAML (${(cause as Error).message}).`)], invalid: [] };
  }
  if (!Array.isArray(docs)) docs = [];
  const unusable = (findings: Finding[], file?: SourceFile): ParsedDocument => ({
    ok: false,
    findings,
    invalid: invalidObjectsOf(path, text),
    ...(file ? { file } : {}),
  });
  const isEmptyDoc = (d: Document.Parsed) => d.contents === null || (isScalar(d.contents) && d.contents.value === null && d.contents.source === '');
  const nonEmpty = docs.filter((d) => !isEmptyDoc(d) || d.errors.length > 0);
  if (nonEmpty.length === 0) {
    return unusable([fileFinding(path, 'file/empty', 'This file is empty: add an object (kind, name, ...) or delete the file.')]);
  }
  if (nonEmpty.length > 1) {
    const pos = lineCounter.linePos(nonEmpty[1]!.range[0]);
    return unusable([
      fileFinding(
        path,
        'yaml/multiple-documents',
        'This file holds more than one YAML document: keep one object per file, named after the file.',
        pos.line,
        pos.col,
      ),
    ]);
  }
  const doc = nonEmpty[0]!;
  const problems = [
    ...doc.errors.map((err) => ({ offset: err.pos[0], message: err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') })),
    ...duplicateKeyOffsets(doc).map((offset) => ({ offset, message: 'Map keys must be unique' })),
  ].sort((a, b) => a.offset - b.offset);
  if (problems.length > 0) {
    return unusable(
      problems.slice(0, 5).map(({ offset, message }) => {
        const opener = unclosedOpener(text, offset, message);
        const pos = lineCounter.linePos(opener ?? offset);
        const hint = opener !== undefined ? 'This is where it opens: close it.' : 'Fix the YAML at this line.';
        return fileFinding(path, 'yaml/syntax', `YAML syntax error: ${message}. ${hint}`, pos.line, pos.col);
      }),
    );
  }
  const content = contentProblems(doc, text);
  if (content.length > 0) {
    return unusable(
      content.map(({ offset, rule, message }) => {
        const pos = lineCounter.linePos(offset);
        return fileFinding(path, rule, message, pos.line, pos.col);
      }),
    );
  }
  const file: SourceFile = { path, text, lineCounter, doc };
  try {
    return { ok: true, file, data: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (cause) {
    const message = (cause as Error).message ?? String(cause);
    const finding = /alias/i.test(message)
      ? fileFinding(
          path,
          'yaml/aliases',
          `This file expands too many YAML aliases (more than ${MAX_ALIAS_COUNT}), like an alias bomb: write the values out instead of using anchors.`,
        )
      : fileFinding(path, 'yaml/syntax', `This file cannot be read as YAML data (${message}).`);
    return unusable([finding], file);
  }
}

/**
 * For "unclosed [ { or quote" errors the parser notices the problem where the file ends or the next key
 * starts; the opening character is where the user has to look.
 */
function unclosedOpener(text: string, at: number, message: string): number | undefined {
  const flow = /end with an? ([\]}])/.exec(message)?.[1];
  if (flow) {
    const open = flow === ']' ? '[' : '{';
    let depth = 0;
    for (let i = Math.min(at, text.length) - 1; i >= 0; i--) {
      const ch = text[i];
      if (ch === flow) depth++;
      else if (ch === open) {
        if (depth === 0) return i;
        depth--;
      }
    }
    return undefined;
  }
  const quote = /Missing closing (["'])quote/.exec(message)?.[1];
  if (quote) {
    const i = text.lastIndexOf(quote, Math.min(at, text.length) - 1);
    return i >= 0 ? i : undefined;
  }
  return undefined;
}
