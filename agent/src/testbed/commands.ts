// The test bed's commands: `mirrornet emulate`, `mirrornet lab` and `mirrornet start`, registered here on the
// product's program by agent/bin/mirrornet.js (the composition root); each loads the test bed only when it
// runs. The dependency is one way: the test bed uses the product's CLI helpers, product code (agent/src
// outside testbed) imports nothing from the test bed.
import type { Command } from 'commander';
import type { Io } from '../cli/io.js';
import { registerLab } from './cli/lab.js';

export function registerTestbedCommands(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command('emulate <service>')
    .description('Run a local emulator of a service this machine cannot reach (huaweicloud-vpc, harbor or github) until interrupted.')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1 and a free port)')
    .option('--state <file>', 'persist the emulated state in this file')
    .option('--config <file>', 'credentials and seed data (JSON or YAML)')
    .option('--ak <ak>', 'huaweicloud-vpc: access key to accept (or HUAWEICLOUD_SDK_AK)')
    .option('--sk <sk>', 'huaweicloud-vpc: secret key of that access key (or HUAWEICLOUD_SDK_SK)')
    .option('--auto-create', 'huaweicloud-vpc: create unknown route tables on first use')
    .option('--admin-password <password>', 'harbor: the admin password to accept (or HARBOR_ADMIN_PASSWORD)')
    .action(async (service: string, opts: import('./cli/emulate.js').EmulateOptions) => {
      const { emulateCommand } = await import('./cli/emulate.js');
      setExit(await emulateCommand(service, opts, io));
    });

  registerLab(
    program.command('lab').description('The whole fleet on one machine: namespaces, real WireGuard, real agents, registries and containerd nodes (root).'),
    io,
    setExit,
  );

  program
    .command('start')
    .description("The main job on this machine: validate the fleet, show every site's desired state, and (as root) run the whole network in the lab.")
    .option('--repo <dir>', 'repository root', '.')
    .option('--nodes <n>', 'containerd nodes per region in the lab', '2')
    .option('--keep', 'leave the lab running (remove it later with `mirrornet lab down`)')
    .option('--plans-only', 'skip the lab')
    .action(async (opts: import('./cli/start.js').StartOptions) => {
      const { startCommand } = await import('./cli/start.js');
      setExit(await startCommand(opts, io));
    });
}
