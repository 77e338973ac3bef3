// The child side of evaluate.ts: validate a checkout and compile one site's desired state, as JSON on stdout.
import { pathToFileURL } from 'node:url';
import { compile, CompileError } from '../desired/compile.js';
import type { Role } from '../desired/types.js';
import { validateRepo } from '../policy/validate.js';
import type { Evaluation } from './evaluate.js';

export function evaluate(dir: string, site: string, roles: Role[]): Evaluation {
  const report = validateRepo(dir);
  if (!report.valid) {
    return {
      valid: false,
      errorCount: report.errors.length,
      errors: report.errors.slice(0, 20).map((e) => ({ file: e.file, line: e.line, rule: e.rule, message: e.message })),
    };
  }
  const guardrails = report.fleet.policies.guardrails?.value;
  const notifications = report.fleet.policies.notifications?.value;
  const area = report.fleet.sites.get(site)?.value.area;
  try {
    return {
      valid: true,
      desired: compile(report.fleet, site, roles),
      ...(guardrails ? { guardrails } : {}),
      ...(notifications ? { notifications } : {}),
      ...(area ? { area } : {}),
    };
  } catch (err) {
    if (err instanceof CompileError) return { valid: true, compileError: err.userMessage };
    throw err;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, site, roles] = process.argv.slice(2);
  process.stdout.write(JSON.stringify(evaluate(dir!, site!, (roles ?? '').split(',').filter(Boolean) as Role[])));
}
