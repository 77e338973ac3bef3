// Reads the configuration repository: every YAML file under the model directories, parsed with source
// positions and checked against the schema of its `kind`. Bad input becomes findings, never exceptions.
import { MirrornetError } from '../errors.js';
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join, relative, sep, basename, extname, isAbsolute } from 'node:path';
import { isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { z } from 'zod';
import type { Finding } from './finding.js';
import { findingAt, formatPath, type PathSegment, type SourceFile } from './source.js';
import { KINDS, KIND_DIRECTORY, KIND_NAMES, SECRET_REF_MESSAGE, type KindName } from './schema.js';
import { keysAt } from './schema-walk.js';
import { didYouMean } from './suggest.js';

export const MODEL_DIRECTORIES = ['hubs', 'regions', 'harbor', 'policies'] as const;
export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_ALIAS_COUNT = 100;
export const SCHEMA_HEADER = /^# yaml-language-server: \$schema=\S+/;

export interface LoadedObject {
  kind: KindName;
  name: string;
  file: SourceFile;
  /** The schema-checked value, defaults applied. */
  value: unknown;
}

export interface LoadResult {
  files: SourceFile[];
  objects: LoadedObject[];
  /** Objects whose kind and name are known but which failed the schema (references to them are not "dangling"). */
  invalid: { kind: string; name: string; file: string }[];
  findings: Finding[];
}

/** One file given by content (for tests, `region add` previews and the property tests). */
export interface VirtualFile {
  path: string;
  content: string | Buffer;
}

function fileFinding(path: string, rule: string, message: string, line = 1, column = 1): Finding {
  return { rule, severity: 'error', file: path, line, column, message };
}

/** List the model files of a repository; symlinks that leave the repository are findings. */
export function listModelFiles(root: string): { files: VirtualFile[]; findings: Finding[] } {
  const files: VirtualFile[] = [];
  const findings: Finding[] = [];
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch (cause) {
    throw new RepoNotFoundError(root, { cause });
  }
  let st0: Stats;
  try {
    st0 = statSync(realRoot);
  } catch (cause) {
    throw new RepoNotFoundError(root, { cause });
  }
  if (!st0.isDirectory()) throw new RepoNotFoundError(root, { cause: new Error('not a directory'), why: 'is not a directory' });
  if (!MODEL_DIRECTORIES.some((d) => existsSync(join(root, d)))) {
    throw new RepoNotFoundError(root, { cause: new Error('no model directories'), why: 'has none of hubs/, regions/, harbor/, policies/' });
  }
  for (const dir of MODEL_DIRECTORIES) {
    const abs = join(root, dir);
    try {
      if (lstatSync(abs).isSymbolicLink() && !isInside(realRoot, realpathSync(abs))) {
        findings.push(
          fileFinding(
            `${dir}/`,
            'file/symlink',
            `${dir}/ is a symlink that points outside the repository; the fleet must be reviewable in the repository alone: replace it with the directory itself.`,
          ),
        );
        continue;
      }
    } catch {
      /* missing or dangling: readdir below says nothing, the fleet rules say what is missing */
    }
    let entries: string[];
    try {
      entries = readdirSync(abs).sort();
    } catch {
      continue; // a missing directory is fine: the fleet rules say what is missing
    }
    for (const entry of entries) {
      const ext = extname(entry);
      if (ext !== '.yaml' && ext !== '.yml') continue;
      const rel = `${dir}/${entry}`;
      const full = join(abs, entry);
      let st: Stats;
      try {
        st = lstatSync(full);
        if (st.isSymbolicLink()) {
          let target: string;
          try {
            target = realpathSync(full);
          } catch {
            findings.push(fileFinding(rel, 'file/symlink', 'This symlink points nowhere: remove it or point it at a file inside the repository.'));
            continue;
          }
          if (!isInside(realRoot, target)) {
            findings.push(
              fileFinding(
                rel,
                'file/symlink',
                'This symlink points outside the repository; the fleet must be reviewable in the repository alone: replace it with the file itself.',
              ),
            );
            continue;
          }
          st = statSync(full);
        }
      } catch (cause) {
        findings.push(fileFinding(rel, 'file/unreadable', `This file cannot be read (${(cause as Error).message}): check its permissions.`));
        continue;
      }
      if (!st.isFile()) continue;
      if (st.size > MAX_FILE_BYTES) {
        findings.push(
          fileFinding(
            rel,
            'file/too-large',
            `This file is ${st.size} bytes; configuration files may be at most ${MAX_FILE_BYTES} bytes (1 MiB): split it or remove generated content.`,
          ),
        );
        continue;
      }
      try {
        files.push({ path: rel, content: readFileSync(full) });
      } catch (cause) {
        findings.push(fileFinding(rel, 'file/unreadable', `This file cannot be read (${(cause as Error).message}): check its permissions.`));
      }
    }
  }
  return { files, findings };
}

export class RepoNotFoundError extends MirrornetError {
  constructor(root: string, opts: { cause: unknown; why?: string }) {
    super(
      `${root} ${opts.why ?? 'does not exist'}: pass --repo with the path of a clone of the configuration repository (a directory with hubs/, regions/, harbor/ and policies/).`,
      { cause: opts.cause, message: `repository not found: ${root}` },
    );
  }
}

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parse and schema-check files. Pure apart from nothing: it never touches the file system. */
export function loadFiles(input: VirtualFile[]): LoadResult {
  const result: LoadResult = { files: [], objects: [], invalid: [], findings: [] };
  for (const vf of input) loadOne(vf, result);
  return result;
}

export function loadRepo(root: string): LoadResult {
  const listed = listModelFiles(root);
  const result = loadFiles(listed.files);
  result.findings.unshift(...listed.findings);
  for (const path of new Set(listed.findings.map((f) => f.file))) markBroken(result, path, '');
  return result;
}

function loadOne(vf: VirtualFile, out: LoadResult): void {
  const path = vf.path.split(sep).join('/');
  let text: string;
  if (typeof vf.content === 'string') {
    text = vf.content;
  } else {
    if (vf.content.length > MAX_FILE_BYTES) {
      out.findings.push(fileFinding(path, 'file/too-large', `This file is ${vf.content.length} bytes; configuration files may be at most 1 MiB: split it.`));
      markBroken(out, path, '');
      return;
    }
    try {
      text = utf8.decode(vf.content);
    } catch {
      const at = firstInvalidUtf8(vf.content);
      out.findings.push(
        fileFinding(
          path,
          'file/encoding',
          `This file is not valid UTF-8 (first bad byte at line ${at.line}, column ${at.column}): save it as UTF-8.`,
          at.line,
          at.column,
        ),
      );
      markBroken(out, path, vf.content.toString('latin1'));
      return;
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length > MAX_FILE_BYTES / 4 && Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    out.findings.push(fileFinding(path, 'file/too-large', 'This file is larger than 1 MiB: split it.'));
    markBroken(out, path, '');
    return;
  }
  const lineCounter = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true }) as Document.Parsed[];
  } catch (cause) {
    out.findings.push(fileFinding(path, 'yaml/syntax', `This file cannot be parsed as YAML (${(cause as Error).message}).`));
    return;
  }
  if (!Array.isArray(docs)) docs = [];
  const isEmptyDoc = (d: Document.Parsed) => d.contents === null || (isScalar(d.contents) && d.contents.value === null && d.contents.source === '');
  const nonEmpty = docs.filter((d) => !isEmptyDoc(d) || d.errors.length > 0);
  if (nonEmpty.length === 0) {
    out.findings.push(fileFinding(path, 'file/empty', 'This file is empty: add an object (kind, name, ...) or delete the file.'));
    markBroken(out, path, text);
    return;
  }
  if (nonEmpty.length > 1) {
    const second = nonEmpty[1]!;
    const pos = lineCounter.linePos(second.range[0]);
    out.findings.push(
      fileFinding(
        path,
        'yaml/multiple-documents',
        'This file holds more than one YAML document: keep one object per file, named after the file.',
        pos.line,
        pos.col,
      ),
    );
    markBroken(out, path, text);
    return;
  }
  const doc = nonEmpty[0]!;
  if (doc.errors.length > 0) {
    for (const err of doc.errors.slice(0, 5)) {
      const msg = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      const opener = unclosedOpener(text, err.pos[0], msg);
      const pos = opener !== undefined ? lineCounter.linePos(opener) : (err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]));
      const hint = opener !== undefined ? 'This is where it opens: close it.' : 'Fix the YAML at this line.';
      out.findings.push(fileFinding(path, 'yaml/syntax', `YAML syntax error: ${msg}. ${hint}`, pos.line, pos.col));
    }
    markBroken(out, path, text);
    return;
  }
  const file: SourceFile = { path, text, lineCounter, doc };
  out.files.push(file);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (cause) {
    const message = (cause as Error).message ?? String(cause);
    markBroken(out, path, text);
    if (/alias/i.test(message)) {
      out.findings.push(
        fileFinding(
          path,
          'yaml/aliases',
          `This file expands too many YAML aliases (more than ${MAX_ALIAS_COUNT}), like an alias bomb: write the values out instead of using anchors.`,
        ),
      );
    } else {
      out.findings.push(fileFinding(path, 'yaml/syntax', `This file cannot be read as YAML data (${message}).`));
    }
    return;
  }

  if (!SCHEMA_HEADER.test(text)) {
    out.findings.push({
      rule: 'schema/header',
      severity: 'warning',
      file: path,
      line: 1,
      column: 1,
      message:
        'The file does not start with a `# yaml-language-server: $schema=...` line: add it so editors check the file while you type (see `mirrornet region add` output).',
    });
  }

  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    out.findings.push(findingAt(file, [], 'schema/type', 'error', 'The file must hold a mapping with `kind` and `name` at the top.'));
    markBroken(out, path, text);
    return;
  }
  const obj = data as Record<string, unknown>;
  const kind = obj['kind'];
  const stem = basename(path, extname(path));
  if (typeof kind !== 'string') {
    out.findings.push(
      kind === undefined || kind === null
        ? findingAt(file, [], 'schema/unknown-kind', 'error', `The file has no \`kind\`: add one of ${KIND_NAMES.join(', ')}.`)
        : findingAt(file, ['kind'], 'schema/unknown-kind', 'error', `kind must be one of ${KIND_NAMES.join(', ')}, not ${JSON.stringify(kind)}.`),
    );
    markBroken(out, path, text);
    return;
  }
  if (!(KIND_NAMES as string[]).includes(kind)) {
    const guess = didYouMean(kind, KIND_NAMES);
    out.findings.push(
      findingAt(
        file,
        ['kind'],
        'schema/unknown-kind',
        'error',
        `Unknown kind "${kind}";${guess ? ` did you mean "${guess}"?` : ''} known kinds: ${KIND_NAMES.join(', ')}.`,
      ),
    );
    markBroken(out, path, text);
    return;
  }
  const kindName = kind as KindName;
  const dir = path.split('/')[0];
  if (dir !== KIND_DIRECTORY[kindName]) {
    out.findings.push(
      findingAt(file, ['kind'], 'schema/wrong-directory', 'error', `A ${kindName} belongs in ${KIND_DIRECTORY[kindName]}/, not ${dir}/: move the file.`),
    );
    markBroken(out, path, text);
    return;
  }
  const schema = KINDS[kindName] as z.ZodType;
  const parsed = schema.safeParse(obj);
  const name = typeof obj['name'] === 'string' ? (obj['name'] as string) : stem;
  if (typeof obj['name'] === 'string' && obj['name'] !== stem) {
    out.findings.push(
      findingAt(file, ['name'], 'schema/name-mismatch', 'error', `name "${obj['name']}" must equal the file name "${stem}": rename the file or the object.`),
    );
  }
  if (!parsed.success) {
    for (const issue of parsed.error.issues) out.findings.push(...issueToFindings(file, schema, obj, issue));
    out.invalid.push({ kind: kindName, name, file: path });
    if (name !== stem) out.invalid.push({ kind: kindName, name: stem, file: path });
    return;
  }
  if (obj['name'] !== stem) {
    out.invalid.push({ kind: kindName, name, file: path }, { kind: kindName, name: stem, file: path });
    return;
  }
  out.objects.push({ kind: kindName, name, file, value: parsed.data });
}

const DEFAULT_KIND_OF_DIRECTORY: Record<string, KindName> = { regions: 'Region', hubs: 'Hub', harbor: 'HarborInstance' };
const POLICY_FILE_KIND: Record<string, KindName> = {
  'address-plan': 'AddressPlan',
  links: 'LinkPolicy',
  routing: 'RoutingPolicy',
  guardrails: 'Guardrails',
  'region-defaults': 'RegionDefaults',
  notifications: 'Notifications',
};

/**
 * A file that could not be read as an object still tells what it meant to be (from its text, its
 * directory, its name): references to it are then not reported as dangling on top of its own finding.
 */
function markBroken(out: LoadResult, path: string, text: string): void {
  const stem = basename(path, extname(path));
  const dir = path.split('/')[0] ?? '';
  const kind = /^kind:\s*["']?([A-Za-z]+)/m.exec(text)?.[1] ?? DEFAULT_KIND_OF_DIRECTORY[dir] ?? POLICY_FILE_KIND[stem] ?? 'unknown';
  const name = /^name:\s*["']?([a-z0-9-]+)/m.exec(text)?.[1];
  out.invalid.push({ kind, name: stem, file: path });
  if (name && name !== stem) out.invalid.push({ kind, name, file: path });
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
    default:
      return [findingAt(file, path, 'schema/type', 'error', `${where}: ${issue.message}.`)];
  }
}

function article(expected: string): string {
  const word = expected === 'int' ? 'integer' : expected;
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

/** Line and column of the first byte that does not start or continue a valid UTF-8 sequence. */
export function firstInvalidUtf8(buf: Uint8Array): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    let need = 0;
    let min = 0;
    if (b < 0x80) {
      if (b === 0x0a) {
        line++;
        lineStart = i + 1;
      }
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return { line, column: column(i) };
    }
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return { line, column: column(i) };
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return { line, column: column(i) };
    i += need + 1;
  }
  return { line, column: 1 };

  /** Columns count characters (UTF-16 code units, like every other finding), not bytes. */
  function column(at: number): number {
    return Buffer.from(buf.subarray(lineStart, at)).toString('utf8').length + 1;
  }
}
