// Docker's /etc/docker/daemon.json, as dockerd reads it (moby: registry/config.go, daemon/config/config.go,
// daemon/reload.go): mirrornet writes one key, `registry-mirrors`, and keeps every other key of the file.
// dockerd refuses a daemon.json key it does not know ("the following directives don't match any configuration
// option") and a key also given as a flag on its command line ("specified both as a flag and in the
// configuration file"): both stop dockerd from starting, and make a SIGHUP reload fail.
import type { Constraint } from './types.js';

const REPO = 'moby/moby';

export const DOCKER_CONSTRAINTS: readonly Constraint[] = [
  {
    consumer: 'docker',
    key: 'registry-mirrors',
    type: '[]string',
    syntax: 'URL with http:// or https://',
    range:
      'scheme http or https, no query, fragment or user info; a path is refused before Docker 25.0. A refused value stops dockerd from ' +
      'starting ("invalid mirror"), and a SIGHUP reload with it fails and keeps the running mirrors.',
    default: 'none',
    from: ['Region.mirror.dragonfly.proxyPort', 'Region.mirror.registries (docker.io)'],
    rule: 'mirror/docker-private-registry',
    note:
      'Mirrors Docker Hub only (loadMirrors sets them on the docker.io index alone). Normalised with a trailing / and deduplicated. ' +
      'Reloaded by SIGHUP only when the key is in the file: a removed key keeps the running mirrors until a restart, so mirrornet writes [] ' +
      'when it stops mirroring. Given also as --registry-mirror on the command line, dockerd does not start.',
    upstream: [
      { repo: REPO, path: 'registry/config.go', ref: 'v28.5.2', at: 'ValidateMirror, loadMirrors' },
      { repo: REPO, path: 'registry/config.go', ref: 'v20.10.24', at: 'ValidateMirror (path refused until v25.0.0)' },
      { repo: REPO, path: 'daemon/reload.go', ref: 'v28.5.2', at: 'reloadRegistryConfig (IsValueSet("registry-mirrors"))' },
      { repo: REPO, path: 'daemon/config/config.go', ref: 'v28.5.2', at: 'findConfigurationConflicts, Validate' },
      { repo: REPO, path: 'daemon/pkg/registry/config.go', ref: 'b985e2313a8676e18072b442911fc8f64f17d440', at: 'ValidateMirror (master, Aug 2026)' },
    ],
  },
];
