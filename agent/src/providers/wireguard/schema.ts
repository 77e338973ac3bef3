// Parsing `wg show <if> dump` and `ip -j link show`.
import { z } from 'zod';

const IpLink = z.looseObject({
  ifname: z.string(),
  mtu: z.number().optional(),
  flags: z.array(z.string()).optional(),
  operstate: z.string().optional(),
});
export const IpLinks = z.array(IpLink);

interface WgPeerState {
  publicKey: string;
  endpoint?: string;
  allowedIps: string[];
  persistentKeepalive?: number;
  latestHandshake: number;
}

export interface WgDump {
  /** Public key of the interface (never the private key: it is dropped while parsing). */
  publicKey: string;
  listenPort: number;
  peers: WgPeerState[];
}

/**
 * `wg show all dump`: like `wg show IF dump` with the interface name first on every line. Private and
 * preshared keys are dropped while parsing.
 */
export function parseWgDumpAll(text: string): Map<string, WgDump> {
  const byIf = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const name = line.slice(0, tab);
    const list = byIf.get(name) ?? [];
    list.push(line.slice(tab + 1));
    byIf.set(name, list);
  }
  const out = new Map<string, WgDump>();
  for (const [name, lines] of byIf) {
    try {
      out.set(name, parseWgDump(lines.join('\n')));
    } catch {
      /* an interface that answered partly is read again on its own */
    }
  }
  return out;
}

/**
 * `wg show IF dump`: the first line is the interface (private-key public-key listen-port fwmark), then
 * one line per peer (public-key preshared-key endpoint allowed-ips latest-handshake rx tx keepalive).
 * The private and preshared keys are dropped here so they never travel further.
 */
export function parseWgDump(text: string): WgDump {
  const lines = text.trim().split('\n').filter(Boolean);
  const head = lines[0]?.split('\t') ?? [];
  if (head.length < 4) throw new Error('unexpected output of wg show dump');
  const dump: WgDump = { publicKey: head[1] === '(none)' ? '' : head[1]!, listenPort: Number(head[2]), peers: [] };
  for (const line of lines.slice(1)) {
    const f = line.split('\t');
    if (f.length < 8) continue;
    dump.peers.push({
      publicKey: f[0]!,
      ...(f[2] && f[2] !== '(none)' ? { endpoint: f[2] } : {}),
      allowedIps: f[3] && f[3] !== '(none)' ? f[3].split(',').sort() : [],
      latestHandshake: Number(f[4]),
      ...(f[7] && f[7] !== 'off' ? { persistentKeepalive: Number(f[7]) } : {}),
    });
  }
  return dump;
}
