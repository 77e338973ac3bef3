// Where the VPC API is and who calls it: the region's endpoint (or an override) and the access key pair,
// from secret references resolved on this host or from the SDK's environment variables.
import type { SecretResolver } from '../../host/secrets.js';
import { configError } from './errors.js';

const ENDPOINT_ENV = 'MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT';
export const AK_ENV = 'HUAWEICLOUD_SDK_AK';
export const SK_ENV = 'HUAWEICLOUD_SDK_SK';

/** The VPC endpoint of a region, unless overridden (option, then MIRRORNET_HUAWEICLOUD_VPC_ENDPOINT). */
export function vpcEndpoint(region: string, opts: { override?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const env = opts.env ?? process.env;
  const chosen = opts.override || env[ENDPOINT_ENV] || `https://vpc.${region}.myhuaweicloud.com`;
  return chosen.replace(/\/+$/, '');
}

/**
 * The access key pair: from secret references (env:NAME, file:/path) when given, else from
 * HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK.
 */
export async function resolveHuaweiCredentials(
  opts: { secrets?: SecretResolver; akRef?: string; skRef?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ ak: string; sk: string }> {
  const env = opts.env ?? process.env;
  const one = async (ref: string | undefined, name: string): Promise<string> => {
    if (ref) {
      if (!opts.secrets) throw configError(`the secret reference for ${name === AK_ENV ? 'the access key' : 'the secret key'} cannot be resolved here`);
      return (await opts.secrets.resolve(ref)).trim();
    }
    const v = env[name];
    if (!v) throw configError(`${name} is not set and no secret reference was given for ${name === AK_ENV ? 'the access key' : 'the secret key'}`);
    return v.trim();
  };
  return { ak: await one(opts.akRef, AK_ENV), sk: await one(opts.skRef, SK_ENV) };
}
