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
  /** Number of model files read. */
  files: number;
  fleet: Fleet;
}

export class UnknownRuleError extends Error {
  constructor(rule: string) {
    super(`internal error: finding with unregistered rule id ${rule}`);
    this.name = 'UnknownRuleError';
  }
}

export function validateLoaded(load: LoadResult): Report {
  const { fleet, findings: fleetFindings } = buildFleet(load);
  const ctx = new RuleContext(fleet);
  const all: Finding[] = [...load.findings, ...fleetFindings];
  for (const family of RULE_FAMILIES) if (family.check) all.push(...family.check(ctx));
  const seen = new Set<string>();
  const unique: Finding[] = [];
  for (const f of all) {
    if (!RULES.has(f.rule)) throw new UnknownRuleError(f.rule);
    const key = `${f.rule}\u0000${f.file}\u0000${f.line}\u0000${f.column}\u0000${f.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(f);
  }
  unique.sort(compareFindings);
  const errors = unique.filter((f) => f.severity === 'error');
  const warnings = unique.filter((f) => f.severity === 'warning');
  return { valid: errors.length === 0, errors, warnings, files: load.files.length + countUnparsed(load), fleet };
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
