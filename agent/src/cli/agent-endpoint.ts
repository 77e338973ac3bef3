// Where the agent's endpoint (webhook, health, metrics) listens by default, and which webhook secrets it
// refuses: a host listens on its private address so the site's webhook and its gateway can reach it, never on
// a public one unless --listen says so, and a placeholder or guessable secret never guards the webhook.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/** The default --listen: this host's one private address (else 127.0.0.1), port 9464. */
export const DEFAULT_LISTEN = 'auto:9464';

/** Interfaces whose addresses are not the host's own network: containers, bridges, tunnels, the agent's own WireGuard links (mn + 8 hex). */
const VIRTUAL_INTERFACE = /^(lo|docker|br-|veth|virbr|cni|flannel|cali|vxlan|kube|wg|tun|tap)|^mn[0-9a-f]{8}$/;

/** RFC 1918: 10/8, 172.16/12, 192.168/16. */
function isPrivateIpv4(address: string): boolean {
  const [a, b] = address.split('.').map(Number);
  return a === 10 || (a === 172 && b !== undefined && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/** The host's private IPv4 addresses on its own (not virtual) interfaces, in interface order. */
function privateAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  const found: string[] = [];
  for (const [name, infos] of Object.entries(interfaces)) {
    if (VIRTUAL_INTERFACE.test(name)) continue;
    for (const info of infos ?? []) if (info.family === 'IPv4' && !info.internal && isPrivateIpv4(info.address)) found.push(info.address);
  }
  return [...new Set(found)];
}

/**
 * `auto:PORT` becomes the host's one private address (127.0.0.1 when it has none or several, with a note
 * saying why); anything else is kept as given.
 */
export function resolveListen(text: string, interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>): { listen: string; note?: string } {
  const m = /^auto:(\d+)$/.exec(text);
  if (!m) return { listen: text };
  const found = privateAddresses(interfaces);
  if (found.length === 1) return { listen: `${found[0]}:${m[1]}` };
  const why = found.length ? `this host has several private addresses (${found.join(', ')})` : 'this host has no private address (10/8, 172.16/12, 192.168/16)';
  return { listen: `127.0.0.1:${m[1]}`, note: `${why}: listening on 127.0.0.1:${m[1]}; pass --listen ADDRESS:${m[1]} for the webhook to reach this agent` };
}

/** The shortest webhook secret accepted: 32 characters (`openssl rand -hex 32` makes 64). */
const MIN_WEBHOOK_SECRET = 32;

const PLACEHOLDER = /change.?me|replace|placeholder|example|your.?secret|^(secret|password|webhook.?secret|todo|test|x+|0+)$/i;

/** Why a webhook secret must not be used, or undefined when it may; the sentence never repeats the value. */
export function webhookSecretProblem(value: string, reference: string): string | undefined {
  const refused = `The webhook secret (${reference})`;
  const make = `Make one with \`openssl rand -hex 32\`, put it where ${reference} points and in the webhook's settings on GitHub.`;
  if (PLACEHOLDER.test(value.trim())) return `${refused} is a placeholder, which anyone could guess: the agent does not start with it. ${make}`;
  if (value.length < MIN_WEBHOOK_SECRET)
    return `${refused} has ${value.length} characters; at least ${MIN_WEBHOOK_SECRET} are needed: the agent does not start with it. ${make}`;
  if (new Set(value).size < 8) return `${refused} repeats a few characters, which anyone could guess: the agent does not start with it. ${make}`;
  return undefined;
}
