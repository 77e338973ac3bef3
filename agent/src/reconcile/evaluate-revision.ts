// The child side of evaluate.ts: validate a checkout and compile one site's desired state through the one
// pipeline, and print the answer as JSON on stdout (or that the revision needs a newer mirrornet). Its process is evaluate-child.ts, or in the single-file
// release the release itself (cli/single-file.ts).
import type { Role } from '../desired/types.js';
import { AgentTooOldError, tooOldSentence } from '../model/compatibility.js';
import type { RevisionEvaluation } from './evaluate.js';
import { fleetOutline } from './fleet-guard.js';
import { evaluateRepository } from './pipeline.js';

async function evaluate(dir: string, site: string, roles: Role[], revision: string): Promise<RevisionEvaluation> {
  let evaluation;
  try {
    evaluation = await evaluateRepository({ repo: dir, checkedOut: revision }, [{ site, roles }]);
  } catch (err) {
    // policies/agent.yaml asks for a newer mirrornet: say so rather than judge the revision by older rules.
    if (err instanceof AgentTooOldError) return { outdated: tooOldSentence(err.tooOld) };
    throw err;
  }
  const { report, sites } = evaluation;
  if (!report.valid) {
    return {
      valid: false,
      errorCount: report.errors.length,
      errors: report.errors.slice(0, 20).map((e) => ({ file: e.file, line: e.line, rule: e.rule, message: e.message })),
    };
  }
  const outline = fleetOutline(report.fleet);
  const compiled = sites.get(site);
  if (!compiled || 'error' in compiled) return { valid: true, compileError: compiled?.error ?? `${site} was not compiled`, outline };
  const guardrails = report.fleet.policies.guardrails?.value;
  const notifications = report.fleet.policies.notifications?.value;
  const area = report.fleet.sites.get(site)?.value.area;
  return {
    valid: true,
    desired: compiled.desired,
    ...(guardrails ? { guardrails } : {}),
    ...(notifications ? { notifications } : {}),
    ...(area ? { area } : {}),
    outline,
  };
}

/** The child process's work: `args` are the checkout, the site, its roles (comma-separated) and the revision. */
export async function evaluateRevisionMain(args: string[]): Promise<void> {
  const [dir, site, roles, revision] = args;
  process.stdout.write(JSON.stringify(await evaluate(dir!, site!, (roles ?? '').split(',').filter(Boolean) as Role[], revision!)));
}
