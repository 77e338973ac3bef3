// Reading policies/agent.yaml of a revision before anything else of it (model/compatibility.ts): leniently,
// two keys only, so that a file a later format extends is still understood by an older agent.
import { valid as validVersion } from 'semver';
import { parse as parseYaml } from 'yaml';
import type { Declared } from './compatibility.js';

/** The declaration in `text` (policies/agent.yaml), read leniently; undefined when it is not a YAML mapping. */
export function readDeclared(text: string | undefined): Declared | undefined {
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 10 });
  } catch {
    return undefined; // the validation reports the file
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const { minAgentVersion, schemaVersion } = data as Record<string, unknown>;
  return {
    ...(typeof minAgentVersion === 'string' && validVersion(minAgentVersion) === minAgentVersion ? { minAgentVersion } : {}),
    ...(Number.isInteger(schemaVersion) && (schemaVersion as number) >= 1 ? { schemaVersion: schemaVersion as number } : {}),
  };
}
