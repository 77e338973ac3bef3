// `mirrornet schema`: writes the JSON Schemas editors use (generated from the zod schemas), or with --check tells CI
// whether the committed ones are current.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { describeFsError } from '../host/files.js';
import { jsonSchemas } from '../model/json-schema.js';
import type { Io } from './io.js';

export async function schemaCommand(opts: { out: string; check?: boolean }, io: Io): Promise<number> {
  const schemas = jsonSchemas();
  if (opts.check) {
    const stale: string[] = [];
    for (const [file, text] of schemas) {
      let current = '';
      try {
        current = readFileSync(join(opts.out, file), 'utf8');
      } catch {
        /* missing counts as stale */
      }
      if (current !== text) stale.push(file);
    }
    if (stale.length) {
      io.stderr(`These schemas are out of date: ${stale.join(', ')}. Run \`mirrornet schema\` and commit the result.\n`);
      return 1;
    }
    io.stdout(`${schemas.size} schemas are current.\n`);
    return 0;
  }
  for (const [file, text] of schemas) {
    const path = join(opts.out, file);
    try {
      mkdirSync(opts.out, { recursive: true });
      await writeFileAtomic(path, text);
    } catch (err) {
      throw describeFsError('write', path, err) ?? err;
    }
  }
  io.stdout(`wrote ${schemas.size} schemas to ${opts.out}\n`);
  return 0;
}
