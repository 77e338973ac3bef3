// validate: load the repository, build the fleet, run every rule family. Pure apart from reading files.
import { compareFindings, type Finding } from '../model/finding.js';
import { buildFleet, type Fleet } from '../model/fleet.js';
import { loadFiles, loadRepo, type LoadResult, type VirtualFile } from '../model/loader.js';
import { RULE_FAMILIES, RULES } from './registry.js';
import { RuleContext } from './rule.js';

export interface Report {
  valid: boolean;
  errors: Finding[];
  warnings: Finding[];
  /** What informs without failing (e.g. `validate --base`: the guardrails change). */
  notices: Finding[];
  /** Number of model files read. */
  files: number;
  fleet: Fleet;
}

export function validateLoaded(load: LoadResult): Report {
  const { fleet, findings: fleetFindings } = buildFleet(load);
  const ctx = new RuleContext(fleet);
  const all: Finding[] = [...load.findings, ...fleetFindings];
  for (const family of RULE_FAMILIES) if (family.check) all.push(...family.check(ctx));
  const seen = new Set<string>();
  const unique: Finding[] = [];
  for (const f of all) {
    // A bug of mirrornet's, not the user's: an internal error (no MirrornetError), which the CLI says as such.
    if (!RULES.has(f.rule)) throw new Error(`a finding names the rule id ${f.rule}, which no rule family registers (policy/registry.ts)`);
    const key = `${f.rule}\u0000${f.file}\u0000${f.line}\u0000${f.column}\u0000${f.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(f);
  }
  unique.sort(compareFindings);
  const shown = capPerFile(unique);
  const errors = shown.filter((f) => f.severity === 'error');
  const warnings = shown.filter((f) => f.severity === 'warning');
  const notices = shown.filter((f) => f.severity === 'notice');
  return { valid: errors.length === 0, errors, warnings, notices, files: load.files.length + countUnparsed(load), fleet };
}

/** At most this many findings are shown per file; the rest are counted in one `file/too-many-findings` finding. */
export const MAX_FINDINGS_PER_FILE = 100;

/** Keep the first findings of each file (sorted by position), and say how many more there are. */
function capPerFile(sorted: Finding[]): Finding[] {
  const out: Finding[] = [];
  for (let i = 0; i < sorted.length;) {
    let end = i;
    while (end < sorted.length && sorted[end]!.file === sorted[i]!.file) end++;
    out.push(...sorted.slice(i, Math.min(end, i + MAX_FINDINGS_PER_FILE)));
    const rest = sorted.slice(i + MAX_FINDINGS_PER_FILE, end);
    if (rest.length > 0) {
      const first = rest[0]!;
      out.push({
        rule: 'file/too-many-findings',
        severity: rest.some((f) => f.severity === 'error') ? 'error' : 'warning',
        file: first.file,
        line: first.line,
        column: first.column,
        message:
          `... and ${rest.length} more findings in this file from here on ` +
          `(only the first ${MAX_FINDINGS_PER_FILE} are shown): fix these and validate again.`,
      });
    }
    i = end;
  }
  return out;
}

function countUnparsed(load: LoadResult): number {
  const parsed = new Set(load.files.map((f) => f.path));
  return new Set(load.findings.map((f) => f.file).filter((p) => !parsed.has(p))).size;
}

export function validateRepo(root: string): Report {
  return validateLoaded(loadRepo(root));
}

export function validateFiles(files: VirtualFile[]): Report {
  return validateLoaded(loadFiles(files));
}
