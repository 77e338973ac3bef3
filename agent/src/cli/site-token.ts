// `mirrornet site-token`: the token a site's agents sign their reports with (or, --gateway, the one its gateway
// signs its reports to its core with), derived from the fleet's report secret as its core derives it, printed
// for provisioning the site's hosts (like `wg genkey`).
import { hostSecrets } from '../host/secrets.js';
import { gatewayToken, siteToken } from '../report/site/signing.js';
import { checkSecretReferences } from './host.js';
import type { Io } from './io.js';

export async function siteTokenCommand(opts: { site: string; reportSecret: string; gateway?: boolean }, io: Io): Promise<number> {
  checkSecretReferences({ '--report-secret': opts.reportSecret });
  const secret = await hostSecrets().resolve(opts.reportSecret);
  io.stdout(`${(opts.gateway ? gatewayToken : siteToken)(secret, opts.site)}\n`);
  return 0;
}
