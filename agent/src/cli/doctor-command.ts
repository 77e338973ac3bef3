// The flags of `mirrornet doctor`, registered by cli/main.ts; the checks (doctor.ts) load only when it runs.
import { Option, type Command } from 'commander';
import type { Io } from './io.js';

export function registerDoctor(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('doctor')
    .description(
      'Check this host before and after install, read-only: programs, WireGuard, containerd, dfdaemon and its port, the source, Harbor, ' +
        'the clock, the state directory, the secrets it references. One line per check; exit 0 when none failed (warnings do not), 1 otherwise.',
    )
    .requiredOption('--region <name>', 'the site (region or core) this host belongs to')
    .option('--roles <roles>', 'comma-separated roles of this host: gateway, node, hub', 'gateway,node')
    .option('--repo <dir>', "checkout to read this host's desired state from (default: the agent's clone in the state directory)")
    .option('--repo-url <url>', 'the git source the agent follows: checked with git ls-remote')
    .option('--branch <branch>', 'its branch', 'main')
    .option('--source <oci://host/project/repo[:channel]>', "the bundle channel the agent follows: this site's tag checked with one HEAD")
    .option('--registry-username <name>', 'registry account that may pull the bundles')
    .option('--registry-password <ref>', "secret reference of that account's password or token")
    .option('--root <dir>', 'prefix for every host path (a sandbox instead of /)', '/')
    .option('--netns <name>', "look at ports inside this network namespace (as the agent's ip/wg commands run)")
    .option('--state-dir <dir>', 'state directory (default <root>/var/lib/mirrornet)')
    .option('--env-file <path>', "the agent's environment file, read as the service would (default /etc/mirrornet/agent.env)")
    .option('--harbor-url <url>', "this core's Harbor URL (default its externalUrl; env MIRRORNET_HARBOR_URL)")
    .option('--huaweicloud-ak <ref>', 'secret reference of the access key (default env HUAWEICLOUD_SDK_AK)')
    .option('--huaweicloud-sk <ref>', 'secret reference of the secret key (default env HUAWEICLOUD_SDK_SK)')
    .option('--skip-cloud', 'this host does not manage cloud route tables')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: import('./doctor.js').DoctorOptions) => {
      const { doctorCommand } = await import('./doctor.js');
      setExit(await doctorCommand(opts, io));
    });
}
