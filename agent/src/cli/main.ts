// The mirrornet command line: each command in its own file, loaded when used; one error handler here. The
// product's commands only: agent/bin/mirrornet.js (the composition root) adds the test bed's through `run`.
import '../host/zod-jitless.js'; // first: before any module declares a schema
import { AGENT_VERSION } from '../version.js';
import { MirrornetError } from '../errors.js';
import { AGENT_TOO_OLD_EXIT, AgentTooOldError } from '../model/compatibility.js';
import { Command, CommanderError, Option } from 'commander';
import { UsageError, UserError } from './errors.js';
import { redactedIo, type Io } from './io.js';
import { registerDoctor } from './doctor-command.js';

const defaultIo: Io = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  color: Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'],
};

/** Commands registered besides the product's (agent/bin/mirrornet.js registers the test bed's this way). */
export type RegisterCommands = (program: Command, io: Io, setExit: (code: number) => void) => void;

/** The program with the product's commands (the test bed's are added by agent/bin/mirrornet.js, through `run`). */
export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('mirrornet')
    .description('GitOps for a global container-image distribution network.')
    .version(AGENT_VERSION)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command('validate')
    .description('Check the configuration repository: schemas, address plan, links, routing, mirrors, Harbor.')
    .option('--repo <dir>', 'repository root', '.')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'github']).default('text'))
    .option('--strict', 'warnings fail too')
    .option('--base <rev>', "also compare with this revision (a pull request's base): removals beyond its guardrails fail")
    .action(async (opts: import('./validate.js').ValidateOptions) => {
      const { validateCommand } = await import('./validate.js');
      setExit(await validateCommand(opts, io));
    });

  const region = program.command('region').description('Work with regions.');
  region
    .command('add <name>')
    .description('Create a region file with the next free CIDR, a link to its core and the default mirror settings.')
    .addOption(new Option('--area <area>', 'area').choices(['cn', 'overseas']).makeOptionMandatory())
    .addOption(new Option('--provider <provider>', 'provider').choices(['huaweicloud', 'aws', 'idc']).makeOptionMandatory())
    .option('--cloud-region <region>', 'cloud region, e.g. eu-central-1 (not for idc)')
    .option('--hub <hub>', 'core to link to (default: the core of the area)')
    .option('--repo <dir>', 'repository root', '.')
    .option('--write', 'write regions/<name>.yaml instead of printing it')
    .action(
      async (
        name: string,
        opts: { area: 'cn' | 'overseas'; provider: 'huaweicloud' | 'aws' | 'idc'; cloudRegion?: string; hub?: string; repo: string; write?: boolean },
      ) => {
        const { regionAddCommand } = await import('./region-add.js');
        setExit(await regionAddCommand(name, opts, io));
      },
    );

  program
    .command('schema')
    .description('Write the JSON Schemas of every kind (for editors) to agent/schemas, or check they are current.')
    .option('--out <dir>', 'output directory', 'agent/schemas')
    .option('--check', 'exit 1 if the files on disk differ from the schemas')
    .action(async (opts: { out: string; check?: boolean }) => {
      const { schemaCommand } = await import('./schema.js');
      setExit(await schemaCommand(opts, io));
    });

  program
    .command('site-token')
    .description("Print a site's token (its agents sign their reports with it), derived from the fleet's report secret as the core does.")
    .requiredOption('--site <name>', 'the site')
    .requiredOption('--report-secret <ref>', "secret reference of the fleet's report secret (as the core's --report-secret)")
    .option('--gateway', "the site's gateway token instead (its gateway's reports to its core)")
    .action(async (opts: { site: string; reportSecret: string; gateway?: boolean }) => {
      const { siteTokenCommand } = await import('./site-token.js');
      setExit(await siteTokenCommand(opts, io));
    });

  program
    .command('rules')
    .description('List every validation rule with its severity and an example.')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown']).default('text'))
    .action(async (opts: { format: 'text' | 'markdown' }) => {
      const { rulesCommand } = await import('./rules.js');
      setExit(rulesCommand(opts, io));
    });

  program
    .command('routes')
    .description('Print the routes every site gets from the links and the routing policy.')
    .option('--repo <dir>', 'repository root', '.')
    .option('--site <name>', 'only this site')
    .action(async (opts: { repo: string; site?: string }) => {
      const { routesCommand } = await import('./routes.js');
      setExit(routesCommand(opts, io));
    });

  program
    .command('diff')
    .description(
      'What a change to the repository does to every site, offline: routes, tunnels, mirrors, cloud routes, Harbor, topology and address plan. ' +
        'Exit 0 no changes, 2 changes, 1 error.',
    )
    .requiredOption('--base <rev>', 'the revision before (e.g. origin/main)')
    .requiredOption('--head <rev>', 'the revision after (e.g. HEAD)')
    .option('--repo <dir>', 'a git clone of the configuration repository', '.')
    .addOption(new Option('--format <format>', 'output format').choices(['markdown', 'text', 'json']).default('text'))
    .action(async (opts: import('./diff.js').DiffOptions) => {
      const { diffCommand } = await import('./diff.js');
      setExit(await diffCommand(opts, io));
    });

  program
    .command('pr-comment')
    .description("Post the plan (validation findings and diff) as the pull request's one mirrornet comment, updated in place. Token from GITHUB_TOKEN.")
    .requiredOption('--repo-slug <owner/name>', 'the GitHub repository')
    .requiredOption('--pr <number>', 'the pull request number')
    .requiredOption('--base <rev>', 'the base revision (the pull request base sha)')
    .requiredOption('--head <rev>', 'the head revision (the pull request head sha)')
    .option('--repo <dir>', 'a git clone holding both revisions', '.')
    .option('--api-url <url>', 'GitHub REST API URL (GitHub Enterprise: https://HOST/api/v3; env GITHUB_API_URL)')
    .option('--dry-run', 'print the comment instead of posting it')
    .action(async (opts: import('./pr-comment.js').PrCommentOptions) => {
      const { prCommentCommand } = await import('./pr-comment.js');
      setExit(await prCommentCommand(opts, io));
    });

  program
    .command('publish')
    .description(
      "Validate the fleet at a revision, compile every site's desired state and push it as a signed OCI artifact, tagged with the commit and a channel. " +
        'Exit 0 published, 1 invalid fleet or registry failure, 2 usage error.',
    )
    .requiredOption('--to <oci://host/project/repo[:channel]>', 'where to push (channel tag default main; oci+http:// for a registry without TLS)')
    .option('--repo <dir>', 'a git clone of the configuration repository', '.')
    .option('--revision <rev>', 'the revision to publish', 'HEAD')
    .option('--sign-key <ref>', 'secret reference (env:NAME or file:/path) of the SSH private key that signs the bundle')
    .option('--username <name>', 'registry account with push rights')
    .option('--password <ref>', "secret reference (env:NAME or file:/path) of that account's password or token")
    .option('--rollback', 'publish a revision older than the one the channel holds, on purpose (agents take it)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: import('./publish.js').PublishOptions) => {
      const { publishCommand } = await import('./publish.js');
      setExit(await publishCommand(opts, io));
    });

  program
    .command('notify')
    .description('Work with chat notifications.')
    .command('test')
    .description(
      "Send a sample event to one channel of the repository's notifications policy, with this host's secrets and the agent's own sender; " +
        "print the vendor's answer. Exit 0 accepted, 1 not accepted, 2 usage error.",
    )
    .requiredOption('--channel <name>', 'the channel (policies/notifications.yaml)')
    .option(
      '--event <kind>',
      'drift, resolved, healed, failed, refused, blocked, stalled, recovered, silent, back, suspended, resumed, applied, or an event kind',
      'drift',
    )
    .option('--site <name>', 'the site the sample is about (default: the first site the channel hears about)')
    .option('--pr <number>', 'a pull request number, for its link')
    .option('--repo <dir>', 'repository root', '.')
    .action(async (opts: import('./notify.js').NotifyTestOptions) => {
      const { notifyTestCommand } = await import('./notify.js');
      setExit(await notifyTestCommand(opts, io));
    });

  const coreFlags = (cmd: Command) =>
    cmd
      .requiredOption('--core <url...>', "a core agent's --listen URL (repeat for each core; asked in parallel)")
      .requiredOption('--key <path>', "your SSH private key (or its .pub while ssh-agent holds the key), listed in each core's --operators file");

  coreFlags(program.command('status'))
    .description(
      "Every site of the cores' areas: per host wanted vs applied revision, last report, drift, errors; suspensions and silent gateways. " +
        'Exit 0 all in sync, 2 anything pending, drifting, failing, stale, silent or suspended, 1 error.',
    )
    .option('--site <name>', 'only this site')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: import('./status.js').StatusOptions) => {
      const { statusCommand } = await import('./status.js');
      setExit(await statusCommand(opts, io));
    });

  program
    .command('rollout')
    .description('Rollout waves (policies/rollout.yaml).')
    .command('status')
    .description(
      "The revision the publisher rolls out and each wave's state (done, soaking since, waiting for a change window until, halted: why, pending), " +
        'as the publisher wrote it beside the bundles. Exit 0 complete, 2 not complete (soaking, waiting, pending or halted), 1 error.',
    )
    .requiredOption('--source <oci://host/project/repo[:channel]>', "the bundles' channel, as the agents follow it (oci+http:// without TLS)")
    .option('--registry-username <name>', 'registry account that may pull the bundles')
    .option('--registry-password <ref>', "secret reference (env:NAME or file:/path) of that account's password or token")
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: import('./rollout.js').RolloutStatusOptions) => {
      const { rolloutStatusCommand } = await import('./rollout.js');
      setExit(await rolloutStatusCommand(opts, io));
    });

  const steerVerb = (action: import('./steer.js').SteerAction, description: string) =>
    coreFlags(program.command(action))
      .description(`${description} Exit 0 when a core accepted, 1 otherwise.`)
      .action(async (opts: import('./steer.js').SteerOptions) => {
        const steer = await import('./steer.js');
        setExit(await steer.steerCommand(action, opts, io));
      });
  steerVerb('suspend', 'Hold a site still: its agents apply no new revision and heal no drift (they still report it) until resumed.')
    .requiredOption('--site <name>', 'the site')
    .requiredOption('--reason <text>', 'why (shown in status and chat)');
  steerVerb('resume', 'Let a suspended site apply and heal again.').requiredOption('--site <name>', 'the site');
  steerVerb('reconcile', "Have a site's agents (or every site's, --all) reconcile now.")
    .option('--site <name>', 'the site')
    .option('--all', 'every site of the cores');

  const hostCommand = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .requiredOption('--region <name>', 'the site (region or core) this host belongs to')
      .option('--roles <roles>', 'comma-separated roles of this host: gateway, node, hub', 'gateway,node')
      .option('--repo <dir>', 'checkout of the configuration repository', '.')
      .option('--root <dir>', 'prefix for every host path (a sandbox instead of /)', '/')
      .option('--netns <name>', 'run every ip/wg/iptables command inside this network namespace')
      .option('--state-dir <dir>', 'state directory (default <root>/var/lib/mirrornet)')
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
      .option('--docker-reload <command>', 'command that reloads Docker (SIGHUP)')
      .option('--dragonfly-restart <command>', 'command that restarts dfdaemon')
      .option('--hook-timeout <seconds>', 'how long a reload/restart hook may run before it is killed (default 600)');
  const serviceOptions = (cmd: Command) =>
    cmd
      .option('--harbor-apply <command>', 'command run in the Harbor install directory after harbor.yml changed')
      .option('--huaweicloud-endpoint <url>', 'Huawei Cloud VPC endpoint (e.g. an emulator; env MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT)')
      .option('--huaweicloud-ak <ref>', 'secret reference of the access key (default env HUAWEICLOUD_SDK_AK)')
      .option('--huaweicloud-sk <ref>', 'secret reference of the secret key (default env HUAWEICLOUD_SDK_SK)')
      .option('--skip-cloud', 'do not manage cloud route tables from this host')
      .option('--pg-admin-url <url>', 'PostgreSQL admin URL without password for the Harbor database (env MIRRORNET_PG_ADMIN_URL)')
      .option('--pg-admin-password <ref>', 'secret reference of the PostgreSQL admin password (env MIRRORNET_PG_ADMIN_PASSWORD)')
      .option('--harbor-url <url>', "this core's Harbor API URL (default its externalUrl; env MIRRORNET_HARBOR_URL)")
      .option('--harbor-username <name>', 'Harbor API user (default admin)')
      .option('--harbor-password <ref>', "secret reference of that user's password (default the instance's adminPassword)")
      .option('--harbor-peer-url <name=url...>', "the other core's Harbor URL as this core reaches it (env MIRRORNET_HARBOR_PEER_URLS)");

  serviceOptions(hostCommand('plan', 'Show what apply would change on this host. Exit 0 in sync, 2 changes pending, 1 error.'))
    .option('--verbose', 'also list what is in sync')
    .action(async (opts: import('./host.js').HostOptions & { verbose?: boolean }) => {
      const { planCommand } = await import('./plan.js');
      setExit(await planCommand(opts, io));
    });

  serviceOptions(hostCommand('apply', 'Apply the plan on this host. Exit 0 applied or nothing to do, 1 error, 3 refused by a guardrail.'))
    .option('--remote-address <ip>', 'address of the git remote: its route is never deleted (lockout protection)')
    .action(async (opts: import('./host.js').HostOptions & { remoteAddress?: string }) => {
      const { applyCommand } = await import('./apply.js');
      setExit(await applyCommand(opts, io));
    });

  serviceOptions(program.command('agent'))
    .description(
      'Run the reconcile loop of this host: take each new revision (from the git repository, ' +
        "or its site's signed bundle in a registry), apply, heal or report drift.",
    )
    .requiredOption('--region <name>', 'the site (region or core) this host belongs to')
    .option('--repo-url <url>', 'git URL of the configuration repository (small fleets, and the publisher)')
    .option('--source <oci://host/project/repo[:channel]>', "follow published bundles instead: this site's manifest in that channel (oci+http:// without TLS)")
    .option('--registry-mirror <url>', "the region's registry mirror (dfdaemon's proxy) the site's layer is fetched through")
    .option('--registry-username <name>', 'registry account that may pull the bundles')
    .option('--registry-password <ref>', "secret reference (env:NAME or file:/path) of that account's password or token")
    .option('--gateway <url>', "node hosts: learn of new bundles from the site's gateway agent (its --listen address)")
    .option('--fanout-token <ref>', "secret reference of the site's fan-out token: a gateway asks it of its nodes, a node sends it")
    .option('--host-name <name>', "this host's name in its site's reports (default: the system's host name)")
    .option('--report-to <url>', "where this agent reports: a node to its site's gateway, a gateway to its core (http://ADDRESS:PORT)")
    .option('--site-token <ref>', "secret reference of the site's token, which signs reports and steering (default: --fanout-token's)")
    .option('--gateway-token <ref>', "a gateway: secret reference of its site's gateway token, which signs its reports to its core")
    .option('--report-secret <ref>', "a core: secret reference of the fleet's report secret, from which every site's token is derived")
    .option('--operators <file>', 'a core: allowed-signers file of the operators who may read the status and steer sites')
    .option('--advertise <url>', 'the URL this agent is reached at by its parent (default: http://--listen when it names an address)')
    .option('--registry-hook-token <ref>', 'secret reference of the token a registry webhook sends (Harbor auth header): enables POST /hooks/registry')
    .option('--publish-to <oci://host/project/repo[:channel]>', 'publisher role: publish each new valid revision of --repo-url there')
    .option('--sign-key <ref>', 'publisher role: secret reference of the SSH private key that signs the bundles')
    .option('--commit-signers <file>', 'publisher role: only publish commits signed by a key in this allowed-signers file')
    .option('--rollout-core <url...>', "publisher role with policies/rollout.yaml: each core's --listen URL, asked for its sites' health (repeat per core)")
    .option('--rollout-key <path>', "publisher role: the SSH private key it asks the cores with, listed in each core's --operators file")
    .option('--branch <branch>', 'branch to follow', 'main')
    .option('--roles <roles>', 'comma-separated roles of this host: gateway, node, hub', 'gateway,node')
    .option('--interval <duration>', 'how often to reconcile (10s, 30s, 1m, 5m ...)', '30s')
    .option('--state-dir <dir>', 'state directory (default <root>/var/lib/mirrornet)')
    .option(
      '--listen <host:port>',
      "webhook, health and metrics endpoint; auto:PORT is this host's one private address (10/8, 172.16/12, 192.168/16), else 127.0.0.1",
      'auto:9464',
    )
    .option('--webhook-secret <ref>', 'secret reference (env:NAME or file:/path) of the GitHub webhook secret')
    .option('--max-connections <n>', 'open connections the endpoint keeps; more are closed as they arrive (default 64)')
    .option(
      '--webhook-rate <burst/per-second>',
      'webhooks one source (an IPv4 address, an IPv6 /64) may send at once, then per second; more get 429 (default 20/1)',
    )
    .option('--allowed-signers <file>', 'only apply commits (--repo-url) or bundles (--source, required) signed by a key in this SSH allowed-signers file')
    .option('--root <dir>', 'prefix for every host path (a sandbox instead of /)', '/')
    .option('--netns <name>', 'run every ip/wg/iptables command inside this network namespace')
    .option('--docker-reload <command>', 'command that reloads Docker (SIGHUP)')
    .option('--dragonfly-restart <command>', 'command that restarts dfdaemon')
    .option('--hook-timeout <seconds>', 'how long a reload/restart hook may run before it is killed (default 600)')
    .option('--once', 'reconcile once and exit (0 ok, 1 failed, 3 refused or blocked)')
    .option('--no-chat', 'do not send chat notifications from this host')
    .option('--github-repo <owner/name>', 'report each revision as the commit status mirrornet/<site> in this GitHub repository')
    .option('--github-token <ref>', 'secret reference (env:NAME or file:/path) of the token for commit statuses (default env:GITHUB_TOKEN)')
    .option('--github-api-url <url>', 'GitHub REST API URL for commit statuses (GitHub Enterprise: https://HOST/api/v3; env GITHUB_API_URL)')
    .action(async (opts: import('./agent.js').AgentCliOptions) => {
      const { agentCommand } = await import('./agent.js');
      setExit(await agentCommand(opts, io));
    });

  registerDoctor(program, io, setExit);
  return program;
}

/**
 * Run the CLI with the product's commands and those `register` adds; returns the exit code. The only place
 * that turns errors into messages.
 */
export async function run(argv: string[], given: Io = defaultIo, register?: RegisterCommands): Promise<number> {
  const io = redactedIo(given); // credentials never reach the terminal: output, findings, errors, help alike
  let code = 0;
  // plan uses 2 for "changes pending": its errors (usage or internal) are 1, like terraform's.
  // diff, like plan, uses 2 for "changes"; pr-comment's failures are 1 too; status uses 2 for "not in sync".
  const errorCode =
    argv[0] === 'plan' ||
    argv[0] === 'apply' ||
    argv[0] === 'agent' ||
    argv[0] === 'diff' ||
    argv[0] === 'pr-comment' ||
    argv[0] === 'status' ||
    argv[0] === 'rollout'
      ? 1
      : 2;
  const setExit = (c: number) => (code = c);
  const program = buildProgram(io, setExit);
  register?.(program, io, setExit);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version succeed; help shown because no command was given is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      return errorCode;
    }
    if (err instanceof UserError) {
      io.stderr(`mirrornet: ${err.userMessage}\n`);
      // A usage error ends like commander's own: 1 where 2 means "changes pending" (plan, diff).
      return err instanceof UsageError ? errorCode : err.exitCode;
    }
    if (err instanceof MirrornetError) {
      io.stderr(`mirrornet: ${err.userMessage}\n`);
      // The repository needs a newer mirrornet (policies/agent.yaml): one exit code for every command.
      return err instanceof AgentTooOldError ? AGENT_TOO_OLD_EXIT : 1;
    }
    const e = err as Error;
    io.stderr(`mirrornet: internal error: ${e?.message ?? String(err)}\n`);
    if (process.env['MIRRORNET_DEBUG']) io.stderr(`${e?.stack ?? ''}\n`);
    else io.stderr('Run again with MIRRORNET_DEBUG=1 for details, and report it with that output.\n');
    return errorCode;
  }
}
