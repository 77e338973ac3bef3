// A model file's data becomes an object: a known `kind` in its kind's directory, `name` equal to the file
// name, checked against the kind's schema (defaults applied). Whatever is wrong becomes findings, and
// what the file meant to be is kept so that references to it are not reported as dangling.
import { basename, extname } from 'node:path';
import type { z } from 'zod';
import type { Finding } from './finding.js';
import { invalidObjectsOf, type InvalidObject } from './file-findings.js';
import { findingAt, type SourceFile } from './source.js';
import { KINDS, KIND_DIRECTORY, KIND_NAMES, type KindName } from './schema.js';
import { issueToFindings } from './schema-findings.js';
import { didYouMean } from './suggest.js';

const SCHEMA_HEADER = /^# yaml-language-server: \$schema=\S+/;

export interface ModelObject {
  findings: Finding[];
  invalid: InvalidObject[];
  /** The schema-checked object, when the file holds a valid one. */
  object?: { kind: KindName; name: string; value: unknown };
}

export function buildModelObject(file: SourceFile, data: unknown): ModelObject {
  const { path, text } = file;
  const findings: Finding[] = [];
  const broken = (finding: Finding): ModelObject => ({ findings: [...findings, finding], invalid: invalidObjectsOf(path, text) });
  if (!SCHEMA_HEADER.test(text)) {
    findings.push({
      rule: 'schema/header',
      severity: 'warning',
      file: path,
      line: 1,
      column: 1,
      message:
        'The file does not start with a `# yaml-language-server: $schema=...` line: ' +
        'add it so editors check the file while you type (see `mirrornet region add` output).',
    });
  }

  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return broken(findingAt(file, [], 'schema/type', 'error', 'The file must hold a mapping with `kind` and `name` at the top.'));
  }
  const obj = data as Record<string, unknown>;
  const kind = obj['kind'];
  const stem = basename(path, extname(path));
  if (typeof kind !== 'string') {
    return broken(
      kind === undefined || kind === null
        ? findingAt(file, [], 'schema/unknown-kind', 'error', `The file has no \`kind\`: add one of ${KIND_NAMES.join(', ')}.`)
        : findingAt(file, ['kind'], 'schema/unknown-kind', 'error', `kind must be one of ${KIND_NAMES.join(', ')}, not ${JSON.stringify(kind)}.`),
    );
  }
  if (!(KIND_NAMES as string[]).includes(kind)) {
    const guess = didYouMean(kind, KIND_NAMES);
    return broken(
      findingAt(
        file,
        ['kind'],
        'schema/unknown-kind',
        'error',
        `Unknown kind "${kind}";${guess ? ` did you mean "${guess}"?` : ''} known kinds: ${KIND_NAMES.join(', ')}.`,
      ),
    );
  }
  const kindName = kind as KindName;
  const dir = path.split('/')[0];
  if (dir !== KIND_DIRECTORY[kindName]) {
    return broken(
      findingAt(file, ['kind'], 'schema/wrong-directory', 'error', `A ${kindName} belongs in ${KIND_DIRECTORY[kindName]}/, not ${dir}/: move the file.`),
    );
  }
  const schema = KINDS[kindName] as z.ZodType;
  const parsed = schema.safeParse(obj);
  const name = typeof obj['name'] === 'string' ? (obj['name'] as string) : stem;
  if (typeof obj['name'] === 'string' && obj['name'] !== stem) {
    findings.push(
      findingAt(file, ['name'], 'schema/name-mismatch', 'error', `name "${obj['name']}" must equal the file name "${stem}": rename the file or the object.`),
    );
  }
  if (!parsed.success) {
    for (const issue of parsed.error.issues) findings.push(...issueToFindings(file, schema, obj, issue));
    const invalid: InvalidObject[] = [{ kind: kindName, name, file: path }];
    if (name !== stem) invalid.push({ kind: kindName, name: stem, file: path });
    return { findings, invalid };
  }
  if (obj['name'] !== stem) {
    return {
      findings,
      invalid: [
        { kind: kindName, name, file: path },
        { kind: kindName, name: stem, file: path },
      ],
    };
  }
  return { findings, invalid: [], object: { kind: kindName, name, value: parsed.data } };
}
