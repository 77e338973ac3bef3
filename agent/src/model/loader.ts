// Reads the configuration repository: lists the YAML files under the model directories (symlinks that
// leave the repository, oversized and unreadable files are findings), decodes them as UTF-8, then each
// becomes one YAML document (yaml-document.ts) and one schema-checked object (model-object.ts). Bad input
// becomes findings, never exceptions.
import { MirrornetError } from '../errors.js';
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join, relative, sep, extname, isAbsolute } from 'node:path';
import type { Finding } from './finding.js';
import { fileFinding, invalidObjectsOf, listingFindings, type InvalidObject } from './file-findings.js';
import { buildModelObject } from './model-object.js';
import type { KindName } from './schema.js';
import type { SourceFile } from './source.js';
import { firstInvalidUtf8 } from './utf8.js';
import { parseModelDocument } from './yaml-document.js';

export const MODEL_DIRECTORIES = ['hubs', 'regions', 'harbor', 'policies'] as const;
export const MAX_FILE_BYTES = 1024 * 1024;

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
  invalid: InvalidObject[];
  findings: Finding[];
}

/** One file given by content (for tests, `region add` previews and the property tests). */
export interface VirtualFile {
  path: string;
  content: string | Buffer;
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
        findings.push(listingFindings.directoryLeaves(dir));
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
            findings.push(listingFindings.pointsNowhere(rel));
            continue;
          }
          if (!isInside(realRoot, target)) {
            findings.push(listingFindings.fileLeaves(rel));
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
        findings.push(listingFindings.tooLarge(rel, st.size, MAX_FILE_BYTES));
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
      `${root} ${opts.why ?? 'does not exist'}: pass --repo with the path of a clone of the configuration repository ` +
        '(a directory with hubs/, regions/, harbor/ and policies/).',
      { cause: opts.cause, message: `repository not found: ${root}` },
    );
  }
}

/** Whether `target` is `root` or below it (both real paths). */
export function isInside(root: string, target: string): boolean {
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
  return loadListed(listModelFiles(root));
}

/**
 * Load listed model files (from a directory or a git revision) with the listing's findings first; a file the
 * listing could not use still names what it meant to be, so references to it are not reported as dangling.
 */
export function loadListed(listed: { files: VirtualFile[]; findings: Finding[] }): LoadResult {
  const result = loadFiles(listed.files);
  result.findings.unshift(...listed.findings);
  for (const path of new Set(listed.findings.map((f) => f.file))) result.invalid.push(...invalidObjectsOf(path, ''));
  return result;
}

function loadOne(vf: VirtualFile, out: LoadResult): void {
  const path = vf.path.split(sep).join('/');
  const text = textOf(path, vf.content, out);
  if (text === undefined) return;
  const parsed = parseModelDocument(path, text);
  if (parsed.file) out.files.push(parsed.file);
  if (!parsed.ok) {
    out.findings.push(...parsed.findings);
    out.invalid.push(...parsed.invalid);
    return;
  }
  const built = buildModelObject(parsed.file, parsed.data);
  out.findings.push(...built.findings);
  out.invalid.push(...built.invalid);
  if (built.object) out.objects.push({ kind: built.object.kind, name: built.object.name, file: parsed.file, value: built.object.value });
}

/** The text of a file without its byte order mark, or undefined (and a finding) when it is too large or not UTF-8. */
function textOf(path: string, content: string | Buffer, out: LoadResult): string | undefined {
  const unusable = (finding: Finding, text: string): undefined => {
    out.findings.push(finding);
    out.invalid.push(...invalidObjectsOf(path, text));
    return undefined;
  };
  let text: string;
  if (typeof content === 'string') {
    text = content;
  } else {
    if (content.length > MAX_FILE_BYTES) {
      return unusable(fileFinding(path, 'file/too-large', `This file is ${content.length} bytes; configuration files may be at most 1 MiB: split it.`), '');
    }
    try {
      text = utf8.decode(content);
    } catch {
      const at = firstInvalidUtf8(content);
      const message = `This file is not valid UTF-8 (first bad byte at line ${at.line}, column ${at.column}): save it as UTF-8.`;
      return unusable(fileFinding(path, 'file/encoding', message, at.line, at.column), content.toString('latin1'));
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length > MAX_FILE_BYTES / 4 && Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    return unusable(fileFinding(path, 'file/too-large', 'This file is larger than 1 MiB: split it.'), '');
  }
  return text;
}
