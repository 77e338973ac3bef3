// `mirrornet validate`: every rule over the repository's files; with `--base REV` (a pull request's base),
// also the change against that revision: removals beyond the fleet-wide guardrail of the base are errors,
// and a change to the guardrails is a notice (it takes effect one revision after it is applied).
import { MirrornetError } from '../errors.js';
import { compareFindings, type Finding } from '../model/finding.js';
import type { Fleet } from '../model/fleet.js';
import { RepoNotFoundError } from '../model/loader.js';
import { findingAt } from '../model/source.js';
import { formatGithub, formatJson, formatText } from '../policy/format.js';
import { fleetOutline, guardrailChanges, judgeRemovals } from '../reconcile/fleet-guard.js';
import { validateRepo, type Report } from '../policy/validate.js';
import { assertReadable, evaluateRepository } from '../reconcile/pipeline.js';
import { AgentTooOldError } from '../model/compatibility.js';
import { UserError } from './errors.js';
import type { Io } from './io.js';

export interface ValidateOptions {
  repo: string;
  format: 'text' | 'json' | 'github';
  strict?: boolean;
  /** Compare with this revision (the pull request's base), read from git at --repo. */
  base?: string;
}

/** Exit 0 valid (warnings allowed unless --strict), 1 invalid, 2 usage or internal error, 4 this mirrornet is too old for it. */
export async function validateCommand(opts: ValidateOptions, io: Io): Promise<number> {
  let report;
  try {
    // A repository that needs a newer mirrornet is not judged by this one's rules (exit 4, cli/main.ts).
    assertReadable({ repo: opts.repo });
    report = validateRepo(opts.repo);
  } catch (err) {
    if (err instanceof RepoNotFoundError) throw new UserError(err.userMessage, 2, { cause: err });
    throw err;
  }
  if (opts.base !== undefined) report = withFindings(report, await baseFindings(report, opts.repo, opts.base));
  if (opts.format === 'json') io.stdout(formatJson(report));
  else if (opts.format === 'github') io.stdout(formatGithub(report));
  else io.stdout(formatText(report, { color: io.color }));
  if (!report.valid) return 1;
  if (opts.strict && report.warnings.length > 0) {
    io.stderr(`failed: --strict treats the ${report.warnings.length} warning(s) above as errors.\n`);
    return 1;
  }
  return 0;
}

function withFindings(report: Report, findings: Finding[]): Report {
  const pick = (severity: Finding['severity'], own: Finding[]) => [...own, ...findings.filter((f) => f.severity === severity)].sort(compareFindings);
  const errors = pick('error', report.errors);
  return { ...report, valid: errors.length === 0, errors, warnings: pick('warning', report.warnings), notices: pick('notice', report.notices) };
}

/** The base revision's fleet, read from git through the one pipeline (an empty fleet when it has none yet). */
async function baseFleetAt(repo: string, base: string): Promise<Fleet> {
  try {
    return (await evaluateRepository({ repo, revision: base, allowEmpty: true }, [])).report.fleet;
  } catch (err) {
    if (err instanceof MirrornetError && !(err instanceof AgentTooOldError)) throw new UserError(`--base ${base}: ${err.userMessage}`, 2, { cause: err });
    throw err;
  }
}

async function baseFindings(head: Report, repo: string, base: string): Promise<Finding[]> {
  const fleet = await baseFleetAt(repo, base);
  return compareWithBase(head, fleet);
}

/**
 * Pure: the change from `base` to `head`, judged by the base's guardrails. Compared only when the head is
 * otherwise valid: a file that fails to parse would look like a removed site.
 */
export function compareWithBase(head: Report, base: Fleet): Finding[] {
  if (!head.valid) return [];
  const baseGuardrails = base.policies.guardrails?.value;
  const headGuardrails = head.fleet.policies.guardrails;
  const at = (key: string, rule: string, severity: Finding['severity'], message: string): Finding =>
    headGuardrails
      ? findingAt(headGuardrails.file, [key], rule, severity, message, { key: true })
      : { rule, severity, file: base.policies.guardrails?.file.path ?? 'policies/guardrails.yaml', line: 1, column: 1, message };
  const out: Finding[] = [];
  const judgement = judgeRemovals(fleetOutline(base), fleetOutline(head.fleet), baseGuardrails);
  for (const trip of judgement.trips) out.push(at(trip.guardrail, 'guardrails/fleet-removal', 'error', trip.message));
  out.push(...unretiredRemovals(base, judgement.unretired));
  const changes = guardrailChanges(baseGuardrails, headGuardrails?.value);
  if (changes.length && baseGuardrails && headGuardrails) {
    out.push(
      at(
        changes[0]!.split(/[.:]/)[0]!,
        'guardrails/changed',
        'notice',
        `The guardrails change (${changes.join('; ')}). Agents judge a revision by the guardrails of the revision they applied before ` +
          'it, and so does `validate --base`: the new values take effect one revision after this one is applied, and this change ' +
          'is judged by the old ones.',
      ),
    );
  }
  return out;
}

/**
 * Pure: a site whose file the change deletes must have been retiring at the base, or be named in the change's
 * acknowledgement of removals (torn down by other means): `unretired` are those that were neither (judgeRemovals).
 */
function unretiredRemovals(base: Fleet, unretired: readonly string[]): Finding[] {
  return unretired.map((name) => {
    const file = base.sites.get(name)!.file.path;
    return {
      rule: 'guardrails/not-retired',
      severity: 'error' as const,
      file,
      line: 1,
      column: 1,
      message:
        `${file} is deleted, but ${name} was not retiring at the base: its agents would fail (there is no site ${name} ` +
        'any more) and nothing on its hosts or its neighbours would be torn down. Mark it `lifecycle: retiring` first, merge, wait for its ' +
        `agents to report retired (\`mirrornet status\`, commit status mirrornet/${name}), then delete the file.`,
    };
  });
}
