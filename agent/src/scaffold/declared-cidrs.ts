// The CIDR every region and hub file of the repository declares, read from its raw text whether or not it
// validates: a file that fails the schema, or is not even YAML, still claims its block until it is fixed or
// removed, and `region add` must not hand that block out again.
import { isMap, isScalar, parseAllDocuments } from 'yaml';
import type { VirtualFile } from '../model/loader.js';

const SITE_DIRECTORIES = ['regions/', 'hubs/'];
/** A top-level `cidr:` line, for a file the YAML parser cannot read. */
const CIDR_LINE = /^cidr:[ \t]*["']?([0-9./]+)/gm;

/** Every `cidr` declared at the top level of a file under regions/ or hubs/ (as written: unparsable ones are the caller's to skip). */
export function declaredCidrs(files: readonly VirtualFile[]): string[] {
  const out = new Set<string>();
  for (const file of files) {
    if (!SITE_DIRECTORIES.some((d) => file.path.startsWith(d))) continue;
    const text = typeof file.content === 'string' ? file.content : file.content.toString('utf8');
    for (const doc of parseAllDocuments(text)) {
      const node: unknown = isMap(doc.contents) ? doc.contents.get('cidr', true) : undefined;
      const value = isScalar(node) ? node.value : undefined;
      if (typeof value === 'string') out.add(value.trim());
    }
    for (const m of text.matchAll(CIDR_LINE)) out.add(m[1]!);
  }
  return [...out];
}
