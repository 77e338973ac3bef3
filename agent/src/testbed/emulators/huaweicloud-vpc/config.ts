// Options for `mirrornet emulate huaweicloud-vpc` from its flags, its configuration file (JSON or YAML:
// listen, state, credentials, projects, routeQuota, autoCreateTables) and the environment.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { HuaweiVpcEmulatorOptions } from './index.js';
import { EmuConfigFile, type EmuCredential } from './schema.js';
import { parseListen } from '../http.js';

/** Read an emulator configuration file (JSON or YAML): listen, state, credentials, projects, routeQuota. */
export async function loadHuaweiVpcEmulatorConfig(path: string): Promise<EmuConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new Error(`The emulator configuration ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'}).`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new Error(`The emulator configuration ${path} is neither JSON nor YAML: ${(cause as Error).message}`, { cause });
  }
  const parsed = EmuConfigFile.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(`The emulator configuration ${path} is not valid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export interface EmulatorCliArgs {
  listen?: string;
  state?: string;
  config?: string;
  ak?: string;
  sk?: string;
  autoCreate?: boolean;
}

/**
 * Options for `mirrornet emulate huaweicloud-vpc`: flags win over the configuration file; credentials come
 * from the file, from --ak/--sk, or from HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK (the variables the agent
 * reads too, so one environment serves both).
 */
export async function huaweiVpcEmulatorOptionsFromCli(args: EmulatorCliArgs, env: NodeJS.ProcessEnv = process.env): Promise<HuaweiVpcEmulatorOptions> {
  const file = args.config ? await loadHuaweiVpcEmulatorConfig(args.config) : undefined;
  const credentials: EmuCredential[] = [...(file?.credentials ?? [])];
  const ak = args.ak ?? env['HUAWEICLOUD_SDK_AK'];
  const sk = args.sk ?? env['HUAWEICLOUD_SDK_SK'];
  if (ak && sk && !credentials.some((c) => c.ak === ak)) credentials.push({ ak, sk });
  if (!credentials.length) {
    throw new Error(
      'The emulator needs at least one access key: give --ak and --sk, set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or list credentials in --config.',
    );
  }
  const listen = args.listen ?? file?.listen;
  const statePath = args.state ?? file?.state;
  return {
    credentials,
    ...(listen ? { listen: parseListen(listen) } : {}),
    ...(statePath ? { statePath } : {}),
    ...(file ? { projects: file.projects } : {}),
    ...(file?.routeQuota ? { routeQuota: file.routeQuota } : {}),
    ...((args.autoCreate ?? file?.autoCreateTables) ? { autoCreateTables: true } : {}),
  };
}
