// `mirrornet emulate huaweicloud-vpc|harbor`: the local emulators, like LocalStack, so users can try the
// agent without a cloud. Runs until SIGINT/SIGTERM.
import { createLogger } from '../../log.js';
import { UsageError, UserError } from '../../cli/errors.js';
import type { Io } from '../../cli/io.js';

export interface EmulateOptions {
  listen?: string;
  state?: string;
  config?: string;
  ak?: string;
  sk?: string;
  autoCreate?: boolean;
  adminPassword?: string;
}

async function untilSignal(close: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = () => void close().finally(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export async function emulateCommand(service: string, opts: EmulateOptions, io: Io): Promise<number> {
  const log = createLogger().child({ component: 'emulator', service });
  if (service === 'huaweicloud-vpc') {
    const { huaweiVpcEmulatorOptionsFromCli } = await import('../emulators/huaweicloud-vpc/config.js');
    const { startHuaweiVpcEmulator } = await import('../emulators/huaweicloud-vpc/index.js');
    let options;
    try {
      options = await huaweiVpcEmulatorOptionsFromCli(
        {
          ...(opts.listen ? { listen: opts.listen } : {}),
          ...(opts.state ? { state: opts.state } : {}),
          ...(opts.config ? { config: opts.config } : {}),
          ...(opts.ak ? { ak: opts.ak } : {}),
          ...(opts.sk ? { sk: opts.sk } : {}),
          ...(opts.autoCreate ? { autoCreate: true } : {}),
        },
        process.env,
      );
    } catch (err) {
      throw new UserError((err as Error).message, 2, { cause: err });
    }
    const emu = await startHuaweiVpcEmulator({ ...options, logger: log });
    io.stdout(`Huawei Cloud VPC emulator listening on ${emu.url} (request log: ${emu.url}/_emulator/log)\n`);
    await untilSignal(() => emu.close());
    return 0;
  }
  if (service === 'github') {
    const { startGithubEmulator } = await import('../emulators/github/index.js');
    const token = process.env['GITHUB_TOKEN'];
    if (!token) throw new UserError('The GitHub emulator needs the token it accepts in GITHUB_TOKEN.', 2);
    const emu = await startGithubEmulator({ token, ...(opts.listen ? { listen: opts.listen } : {}) });
    io.stdout(`GitHub REST emulator listening on ${emu.url} (requests checked against GitHub's OpenAPI description)\n`);
    await untilSignal(() => emu.close());
    return 0;
  }
  if (service === 'harbor') {
    const mod = await import('./emulate-harbor.js');
    return mod.emulateHarbor(opts, io, log);
  }
  throw new UsageError(`Unknown service "${service}": use huaweicloud-vpc, harbor or github.`);
}
