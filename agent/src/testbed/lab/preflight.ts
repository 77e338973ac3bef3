// Whether the lab can run on this machine: root, the Debian packages it drives, /dev/net/tun. `lab up`
// refuses to start without them; `mirrornet start` installs the missing packages.
import { existsSync } from 'node:fs';
import { LabError, sh } from './processes.js';

const NEEDED: [string, string][] = [
  ['ip', 'iproute2'],
  ['wireguard-go', 'wireguard-go'],
  ['wg', 'wireguard-tools'],
  ['iptables', 'iptables'],
  ['git', 'git'],
  ['curl', 'curl'],
  ['docker-registry', 'docker-registry'],
  ['containerd', 'containerd'],
  ['ctr', 'containerd'],
  // The publisher's and the operator's keys; the agents sign and verify with it.
  ['ssh-keygen', 'openssh-client'],
];

/** What is missing to run the lab here: reasons and the packages to install. */
export function missingForLab(): { reasons: string[]; packages: string[] } {
  const reasons: string[] = [];
  const packages = new Set<string>();
  if (process.getuid?.() !== 0) reasons.push('the lab needs root (network namespaces, veths, WireGuard)');
  for (const [cmd, pkg] of NEEDED) {
    if (sh('sh', ['-c', `command -v ${cmd}`], { allowFail: true }).code !== 0) {
      reasons.push(`${cmd} is not installed`);
      packages.add(pkg);
    }
  }
  if (!existsSync('/dev/net/tun')) reasons.push('/dev/net/tun is missing (wireguard-go needs it)');
  return { reasons, packages: [...packages] };
}

export function assertLabCanRun(): void {
  const { reasons, packages } = missingForLab();
  if (!reasons.length) return;
  const install = packages.length ? ` Install with: apt-get install -y ${packages.join(' ')}` : '';
  throw new LabError(`The lab cannot run here: ${reasons.join('; ')}.${install}`);
}
