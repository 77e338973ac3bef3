// The lab directory's layout (each site's --root, each node's, the registries' logs) and the sandboxes in
// it: a site's WireGuard private key under its --root (the file its links name), its nodes' containerd configs.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labPrivateKeyRef } from './fleet-sites.js';
import type { LabSite } from './topology.js';

/** A WireGuard key pair (base64, as wg prints them). */
export function wgKeyPair(): { privateKey: string; publicKey: string } {
  const k = generateKeyPairSync('x25519');
  const jwk = k.privateKey.export({ format: 'jwk' }) as { d: string; x: string };
  return { privateKey: Buffer.from(jwk.d, 'base64url').toString('base64'), publicKey: Buffer.from(jwk.x, 'base64url').toString('base64') };
}

function containerdConfig(): string {
  return [
    'version = 2',
    '# mirrornet lab node: CRI off (ctr is the client); config_path is what the node agent reads.',
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '',
    '[plugins."io.containerd.grpc.v1.cri".registry]',
    '  config_path = "/etc/containerd/certs.d"',
    '',
  ].join('\n');
}

/** A site's sandbox: its WireGuard private key under its --root; its nodes' containerd configs. */
export function writeSandbox(dir: string, s: LabSite, privateKey?: string): void {
  if (privateKey !== undefined) writeSiteKey(dir, s.name, privateKey);
  for (const n of s.nodes) {
    const nroot = nodeRoot(dir, s.name, n.name);
    mkdirSync(join(nroot, 'etc/containerd'), { recursive: true });
    writeFileSync(join(nroot, 'etc/containerd/config.toml'), containerdConfig());
  }
}

/** A site's WireGuard private key, where its links' privateKey reference points under its --root. */
export function writeSiteKey(dir: string, site: string, privateKey: string): void {
  const root = siteRoot(dir, site);
  mkdirSync(join(root, 'etc/mirrornet/wireguard'), { recursive: true, mode: 0o700 });
  writeFileSync(join(root, labPrivateKeyRef(site).slice('file:'.length)), `${privateKey}\n`, { mode: 0o600 });
}

/** A site's --root (its gateway agent's sandbox). */
export function siteRoot(dir: string, site: string): string {
  return join(dir, 'sites', site, 'root');
}

/** A node's --root (its node agent's sandbox). */
export function nodeRoot(dir: string, site: string, node: string): string {
  return join(dir, 'sites', site, 'nodes', node, 'root');
}

/** The access log of a core's registry (what the run counts the bytes served from). */
export function registryLog(dir: string, core: string): string {
  return join(dir, 'logs', `registry-${core}.log`);
}
