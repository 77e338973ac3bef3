// The hostile-input corpus of issue 10, in one index: for every way the agent or the pull-request gate was
// found to break (requests, repositories, command lines, faults), the test cases that now hold it, each with
// its expected status or finding written in the case itself. The requests and command lines live in this
// folder; repository cases are rows of the validator's rule table (policy/rules.test.ts), and faults are with
// the module they bound. This test keeps the index true: every case it names exists under that title, so a
// case cannot be renamed or dropped without the index saying which item lost its proof.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TEST_ROOT = fileURLToPath(new URL('../../../test/', import.meta.url));

interface Item {
  /** What was found on the main of the issue. */
  found: string;
  /** Test file (under agent/test) -> titles of its cases (an `it`, or a `title:` row of a table). */
  cases: Record<string, string[]>;
}

const CORPUS: Item[] = [
  {
    found: 'one request with a malformed request target kills the agent (an unhandled rejection)',
    cases: {
      'hostile/requests.test.ts': [
        'an absolute-form target that is not a URL (http://[::1)',
        'a target that is neither a path nor a URL (%zz)',
        'a NUL in the path',
        'a handler error answers 500 with a generic body (no message, no stack) and logs it',
      ],
      'hostile/fuzz.test.ts': ['random requests: the server keeps answering, nothing unsigned reconciles, memory stays bounded'],
    },
  },
  {
    found: 'unsigned requests are buffered whole, with no connection limit and a 300 s request timeout (slow clients grow the agent)',
    cases: {
      'hostile/requests.test.ts': [
        'an unsigned POST declaring 10 MB is answered 401 at once, without waiting for (or keeping) the body',
        'a client that never finishes its headers gets 408 and is cut off by headersTimeout',
        'a client dripping its headers a byte at a time is cut off',
        'a flood of webhooks from one address gets 429 with Retry-After past the burst; other addresses and /healthz are not limited',
        'a repeated delivery id is acknowledged (200) without a second reconcile, until the window has passed',
        'past maxConnections new connections are closed at once; once the others go, the server answers again',
        'past maxBodyReads webhook bodies being received, another webhook answers 503 with Retry-After',
      ],
      'server/refusals.test.ts': [
        'every reason starts at 0 and counts refusals: rate limit, sizes, busy, signatures, replays, malformed requests, the connection cap',
      ],
      'cli/agent-flags.test.ts': ['a running agent answers the third webhook from one address with 429 under --webhook-rate 2/0.01, and counts it'],
    },
  },
  {
    found: 'a hook or a validation that hangs stops the loop while /healthz stays 200; hooks and the validation child have no timeout',
    cases: {
      'host/timeouts.test.ts': [
        'a hook that hangs is killed after its timeout, the processes it started with it, and the error says so',
        'a validation that takes longer than allowed is stopped with a sentence, not left running',
      ],
      'server/server.test.ts': [
        '/healthz turns 503 when no reconcile completes within two intervals (a hook that hangs), and 200 again after',
        'on SIGTERM while a restart hook hangs, kills the hook with what it started and exits 0, instead of waiting for the hook',
      ],
      'reconcile/stall.test.ts': [
        'a hook that hangs is named by the verdict, the gauge, one warning and one agent-stalled; then one info and one agent-recovered',
        'a state that cannot be read (corrupt, or a directory) answers 503 with the reason, and recovers when it is readable again',
      ],
      'reconcile/validation-lock.test.ts': ['while a new revision is validated, another agent (or mirrornet apply) can take the apply lock at once'],
    },
  },
  {
    found: 'a commit that deletes every region is valid and the cores apply it; the commit that deletes can raise its own guardrails',
    cases: {
      'cli/validate-base.test.ts': [
        'a change that deletes every region and raises maxSiteRemovals itself: exit 1 by the base’s limit, annotated; the raise is a notice',
        'an acknowledgement in the change excuses exactly the sites it names; one naming other sites does not, one naming live sites is an error',
      ],
      'reconcile/agent.test.ts': [
        '(4) a commit that deletes more than maxDeletionsPerApply is blocked: nothing deleted; a limit raised first applies it',
        '(4b) a commit that deletes every region and raises its own limits is blocked by the fleet-wide guardrail of the applied revision',
      ],
      'report/github.test.ts': ['says in the comment which guardrail the change would trip'],
    },
  },
  {
    found: 'credentials inside a git URL appear in logs, --once JSON and chat; a secret given where a reference was expected is echoed back',
    cases: {
      'redact.test.ts': [
        'an agent whose repository URL carries a token never prints the token (log, --once JSON, exit)',
        'an agent never prints a secret from a file: reference or a credential variable (log, --once JSON)',
      ],
      'report/chat/dispatcher.test.ts': ['a message never carries a secret: resolved ones (env: and file:), credential variables, webhook URLs'],
      'report/github.test.ts': ['never posts a secret in a description: resolved ones (env: and file:), credential variables, whole even when cut'],
      'cli/cli.test.ts': ['refuses a secret given where a reference is expected, without repeating it'],
      'policy/rules.test.ts': ['an IPsec pre-shared key in the repository, never echoed'],
    },
  },
  {
    found: 'region add follows a symlinked regions/ out of the repository, and a command-line value can break out of its YAML comment',
    cases: {
      'hostile/command-lines.test.ts': [
        'refuses a regions/ that is a symlink out of the repository and writes nothing there',
        'refuses a target file that is a symlink out of the repository, to a file not there yet',
        'refuses a --cloud-region that ends the comment and sets kind',
        'refuses a --cloud-region that adds a key after a line break',
        'skips the block of a region file that does not validate, and of one that is not even YAML',
      ],
    },
  },
  {
    found: 'the validator accepts out-of-range addresses and ports, tags the parser only warns about, NUL bytes, prototype keys, credentials in URLs',
    cases: {
      'policy/rules.test.ts': [
        'a gateway address with an octet over 255',
        'a WireGuard endpoint with a port over 65535',
        'an unknown !foo tag (the parser only warns), at its line',
        'a raw NUL byte inside a value, at its line and column',
        'a raw NUL byte inside a label key (labels take any key), at the key',
        'a __proto__ key at the top level, at the key',
        'a Harbor endpoint URL with user:password before the host, never echoed',
      ],
    },
  },
  {
    found: 'a region file of ~100k keys takes minutes to validate',
    cases: {
      'model/large-file.test.ts': ['validates 100k labels (valid) without a finding', 'reports 100k unknown keys as 100 findings and one that counts the rest'],
    },
  },
  {
    found: 'environment failures end as "internal error" (read-only root, a lock that cannot be created, port in use, PostgreSQL unreachable)',
    cases: {
      'host/environment-failures.test.ts': [
        'a read-only file system is named as such (root: a read-only tmpfs)',
        'a state directory that cannot be created fails the lock with the path and what to check',
        'an agent whose --listen port is taken exits 1 with a sentence, not an internal error',
        'plan on a core whose PostgreSQL is unreachable exits 1 with the address and what to check',
      ],
    },
  },
];

/** Whether `source` has a case titled `title`: an `it('…')`, or a table row `title: '…'` (the template literal of a count is matched by its rest). */
function hasCase(source: string, title: string): boolean {
  return source.includes(`'${title}'`) || source.includes(`${title}\``) || source.includes(`'${title.replace(/'/g, "\\'")}'`);
}

describe('the hostile-input corpus (issue 10)', () => {
  it('has at least one case for every item that was found', () => {
    assert.equal(CORPUS.length, 9);
    for (const item of CORPUS) assert.ok(Object.values(item.cases).flat().length > 0, item.found);
  });

  for (const item of CORPUS) {
    it(`names only cases that exist: ${item.found}`, () => {
      const missing: string[] = [];
      for (const [file, titles] of Object.entries(item.cases)) {
        const source = readFileSync(`${TEST_ROOT}${file}`, 'utf8');
        for (const title of titles) if (!hasCase(source, title)) missing.push(`${file}: ${title}`);
      }
      assert.deepEqual(missing, []);
    });
  }
});
