import { RepoNotFoundError } from '../model/loader.js';
import { formatGithub, formatJson, formatText } from '../policy/format.js';
import { validateRepo } from '../policy/validate.js';
import { UserError } from './errors.js';
import type { Io } from './io.js';

/** Exit 0 valid (warnings allowed unless --strict), 1 invalid, 2 usage or internal error. */
export function validateCommand(opts: { repo: string; format: 'text' | 'json' | 'github'; strict?: boolean }, io: Io): number {
  let report;
  try {
    report = validateRepo(opts.repo);
  } catch (err) {
    if (err instanceof RepoNotFoundError) throw new UserError(err.userMessage, 2, { cause: err });
    throw err;
  }
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
