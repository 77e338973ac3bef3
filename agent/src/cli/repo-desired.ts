// plan and apply: this host's desired state from the checkout, through the one pipeline; an invalid
// repository is refused with its findings.
import type { Desired, Role } from '../desired/types.js';
import { formatText } from '../policy/format.js';
import type { Report } from '../policy/validate.js';
import { evaluateRepository } from '../reconcile/pipeline.js';
import { UserError } from './errors.js';
import type { Io } from './io.js';

class InvalidRevisionError extends UserError {
  constructor(
    readonly report: Report,
    revision: string,
  ) {
    super(
      `The repository at ${revision.slice(0, 12)} is invalid (${report.errors.length} errors, above); nothing was planned or applied. Fix it and try again.`,
      1,
    );
  }
}

/** Validate the checkout and compile this host's desired state; an invalid repository prints its findings and is refused. */
export async function desiredFromRepo(
  repo: string,
  site: string,
  roles: Role[],
  io: Pick<Io, 'stderr'>,
): Promise<{ desired: Desired; report: Report; revision: string }> {
  const { report, revision, sites } = await evaluateRepository({ repo }, [{ site, roles }]);
  if (!report.valid) {
    io.stderr(formatText(report));
    throw new InvalidRevisionError(report, revision);
  }
  const compiled = sites.get(site);
  if (!compiled || 'error' in compiled) throw new UserError(compiled?.error ?? `${site} was not compiled.`, 1);
  return { desired: compiled.desired, report, revision };
}
