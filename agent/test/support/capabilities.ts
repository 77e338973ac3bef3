// Tests that need root, a network namespace or a Debian package skip with a visible reason when it is
// missing; with MIRRORNET_REQUIRE_ALL=1 (set by .ci/run) a missing capability fails the test instead.
import { execFileSync } from 'node:child_process';

function requireAll(): boolean {
  return process.env['MIRRORNET_REQUIRE_ALL'] === '1';
}

export class MissingCapabilityError extends Error {
  constructor(reason: string) {
    super(`MIRRORNET_REQUIRE_ALL=1 but ${reason}`);
    this.name = 'MissingCapabilityError';
  }
}

/** Skip (or, under MIRRORNET_REQUIRE_ALL=1, fail) the current test when `missing` is a reason. */
export function need(ctx: Mocha.Context, missing: string | undefined): void {
  if (!missing) return;
  if (requireAll()) throw new MissingCapabilityError(missing);
  process.stderr.write(`      skipped: ${missing}\n`);
  ctx.skip();
}

export function missingRoot(): string | undefined {
  return process.getuid?.() === 0 ? undefined : 'this test needs root (run the tests as root, as .ci/run does)';
}

export function missingCommand(command: string, debianPackage: string): string | undefined {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${command} is not installed (apt-get install ${debianPackage})`;
  }
}
