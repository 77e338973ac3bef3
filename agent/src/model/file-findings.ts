// Findings about a file as a whole, and what a file that could not be loaded as an object still tells
// (its kind and name, from its text, directory or file name), so references to it are not "dangling".
import { basename, extname } from 'node:path';
import type { Finding } from './finding.js';
import type { KindName } from './schema.js';

/** An object whose kind and name are known but which could not be loaded. */
export interface InvalidObject {
  kind: string;
  name: string;
  file: string;
}

export function fileFinding(path: string, rule: string, message: string, line = 1, column = 1): Finding {
  return { rule, severity: 'error', file: path, line, column, message };
}

/** What listing the model files finds, whether the listing reads a directory or a revision's git objects. */
export const listingFindings = {
  directoryLeaves: (dir: string): Finding =>
    fileFinding(
      `${dir}/`,
      'file/symlink',
      `${dir}/ is a symlink that points outside the repository; the fleet must be reviewable in the repository alone: ` +
        'replace it with the directory itself.',
    ),
  fileLeaves: (path: string): Finding =>
    fileFinding(
      path,
      'file/symlink',
      'This symlink points outside the repository; the fleet must be reviewable in the repository alone: replace it with the file itself.',
    ),
  pointsNowhere: (path: string): Finding =>
    fileFinding(path, 'file/symlink', 'This symlink points nowhere: remove it or point it at a file inside the repository.'),
  tooLarge: (path: string, bytes: number, max: number): Finding =>
    fileFinding(
      path,
      'file/too-large',
      `This file is ${bytes} bytes; configuration files may be at most ${max} bytes (1 MiB): split it or remove generated content.`,
    ),
};

const DEFAULT_KIND_OF_DIRECTORY: Record<string, KindName> = { regions: 'Region', hubs: 'Hub', harbor: 'HarborInstance' };
const POLICY_FILE_KIND: Record<string, KindName> = {
  'address-plan': 'AddressPlan',
  links: 'LinkPolicy',
  routing: 'RoutingPolicy',
  guardrails: 'Guardrails',
  'region-defaults': 'RegionDefaults',
  notifications: 'Notifications',
};

/** What a file that could not be read as an object meant to be: under its file name, and under its `name:` if that differs. */
export function invalidObjectsOf(path: string, text: string): InvalidObject[] {
  const stem = basename(path, extname(path));
  const dir = path.split('/')[0] ?? '';
  const kind = /^kind:\s*["']?([A-Za-z]+)/m.exec(text)?.[1] ?? DEFAULT_KIND_OF_DIRECTORY[dir] ?? POLICY_FILE_KIND[stem] ?? 'unknown';
  const name = /^name:\s*["']?([a-z0-9-]+)/m.exec(text)?.[1];
  const out: InvalidObject[] = [{ kind, name: stem, file: path }];
  if (name && name !== stem) out.push({ kind, name, file: path });
  return out;
}
