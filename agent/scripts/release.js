#!/usr/bin/env node
// `npm run release`: what a host installs, built from the compiled agent (agent/dist, so `npm run build` first).
// A host needs none of the repository's node_modules and no compiler:
//   agent/release/mirrornet.mjs               the agent in one file (esbuild; the product only: no lab, no emulators)
//   agent/release/mirrornet-VERSION.tgz       that file, the systemd unit and the environment template
//   agent/release/mirrornet_VERSION_all.deb   installs /usr/bin/mirrornet, the unit and /etc/mirrornet/agent.env.example
// Options: --out DIR (default agent/release), --no-deb (without dpkg-deb).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const AGENT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = join(AGENT, 'dist/src/cli/single-file.js');
const DEPLOY = join(AGENT, 'deploy');
const VERSION = JSON.parse(readFileSync(join(AGENT, 'package.json'), 'utf8')).version;

/** The Debian packages a host needs: Node, and the tools the gateway role runs (WireGuard, routes, MSS clamping). */
const DEB_DEPENDS = 'nodejs (>= 20.19), git, wireguard-tools, iproute2, iptables';
const DEB_RECOMMENDS = 'wireguard-go, openssh-client';

/**
 * Modules product code loads lazily through `const require = createRequire(import.meta.url)` (ip-num, pino-pretty,
 * the Huawei Cloud SDK): in the bundle that line goes, so esbuild sees plain `require('name')` calls and bundles
 * what they name. The Huawei client finds the SDK's log4js from the SDK's directory, which a bundle has not:
 * there it is the one bundled log4js. Each rewrite must match, or the release fails (the source changed).
 */
const REWRITES = [
  { file: 'src/log.js', from: 'const require = createRequire(import.meta.url);', to: '' },
  { file: 'src/net/cidr.js', from: 'const require = createRequire(import.meta.url);', to: '' },
  { file: 'src/server/guards.js', from: 'const require = createRequire(import.meta.url);', to: '' },
  { file: 'src/providers/huaweicloud-vpc/client.js', from: 'const require = createRequire(import.meta.url);', to: '' },
  {
    file: 'src/providers/huaweicloud-vpc/client.js',
    from: "const coreDir = dirname(require.resolve('@huaweicloud/huaweicloud-sdk-core/package.json'));",
    to: '',
  },
  { file: 'src/providers/huaweicloud-vpc/client.js', from: "createRequire(join(coreDir, 'package.json'))('log4js')", to: "require('log4js')" },
];

/** Never bundled: native add-ons a dependency tries and does without (pg's pg-native). */
const EXTERNAL = ['pg-native'];

/** CommonJS modules in an ES module bundle still call require() and read __dirname: give them both. */
const BANNER = [
  '#!/usr/bin/env node',
  '// mirrornet agent, single-file release (agent/scripts/release.js). Needs Node.js 20.19 or later.',
  "import { createRequire as __mnCreateRequire } from 'node:module';",
  "import { fileURLToPath as __mnFileURLToPath } from 'node:url';",
  "import { dirname as __mnDirname } from 'node:path';",
  'const require = __mnCreateRequire(import.meta.url);',
  'const __filename = __mnFileURLToPath(import.meta.url);',
  'const __dirname = __mnDirname(__filename);',
].join('\n');

function fail(message) {
  process.stderr.write(`release: ${message}\n`);
  process.exit(1);
}

const rewritePlugin = {
  name: 'mirrornet-lazy-require',
  setup(build) {
    const byFile = new Map();
    for (const r of REWRITES) byFile.set(join(AGENT, 'dist', r.file), [...(byFile.get(join(AGENT, 'dist', r.file)) ?? []), r]);
    const applied = new Set();
    build.onLoad({ filter: /[\\/]agent[\\/]dist[\\/]src[\\/].*\.js$/ }, (args) => {
      const rewrites = byFile.get(args.path);
      if (!rewrites) return undefined;
      let text = readFileSync(args.path, 'utf8');
      for (const r of rewrites) {
        if (text.split(r.from).length !== 2) fail(`${relative(AGENT, args.path)} no longer contains \`${r.from}\` exactly once: update REWRITES.`);
        text = text.replace(r.from, r.to);
        applied.add(r);
      }
      return { contents: text, loader: 'js' };
    });
    build.onEnd(() => {
      const missed = REWRITES.filter((r) => !applied.has(r));
      if (missed.length) fail(`not bundled, so not rewritten: ${missed.map((r) => r.file).join(', ')}`);
    });
  },
};

async function bundle(outfile) {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    external: EXTERNAL,
    banner: { js: BANNER },
    plugins: [rewritePlugin],
    legalComments: 'none',
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'error',
    metafile: true,
  });
  const testbed = Object.keys(result.metafile.inputs).filter((p) => /(^|\/)src\/testbed\//.test(p));
  if (testbed.length) fail(`the test bed must not be in the release, but ${testbed[0]} is`);
  chmodSync(outfile, 0o755);
}

/** The unit's environment template: the deploy file, with the placeholder secret that the agent refuses. */
function files(root, single) {
  const put = (path, content, mode = 0o644) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content, { mode });
    chmodSync(join(root, path), mode);
  };
  put('usr/lib/mirrornet/mirrornet.mjs', readFileSync(single), 0o755);
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  symlinkSync('../lib/mirrornet/mirrornet.mjs', join(root, 'usr/bin/mirrornet'));
  put('lib/systemd/system/mirrornet-agent.service', readFileSync(join(DEPLOY, 'mirrornet-agent.service')));
  put('etc/mirrornet/agent.env.example', readFileSync(join(DEPLOY, 'mirrornet-agent.env')));
  put('usr/share/doc/mirrornet/README.Debian', readFileSync(join(DEPLOY, 'README.Debian')));
}

function tarball(out, single) {
  const stage = mkdtempSync(join(tmpdir(), 'mirrornet-tgz-'));
  try {
    const top = join(stage, `mirrornet-${VERSION}`);
    files(top, single);
    const file = join(out, `mirrornet-${VERSION}.tgz`);
    execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-czf', file, '-C', stage, `mirrornet-${VERSION}`]);
    return file;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function deb(out, single) {
  const stage = mkdtempSync(join(tmpdir(), 'mirrornet-deb-'));
  try {
    files(stage, single);
    const sizeKb = Math.ceil(readFileSync(single).length / 1024) + 16;
    const control = [
      'Package: mirrornet',
      `Version: ${VERSION}`,
      'Architecture: all',
      'Maintainer: mirrornet platform team <platform@mirrornet.invalid>',
      `Installed-Size: ${sizeKb}`,
      `Depends: ${DEB_DEPENDS}`,
      `Recommends: ${DEB_RECOMMENDS}`,
      'Section: net',
      'Priority: optional',
      'Homepage: https://github.com/mirrornet/mirrornet',
      'Description: GitOps agent for a container-image distribution network',
      ' mirrornet validates the fleet repository and reconciles this host with it:',
      ' WireGuard tunnels and routes (gateways), containerd/Docker mirrors and',
      ' Dragonfly (nodes). The agent runs as the systemd unit mirrornet-agent.',
      '',
    ].join('\n');
    mkdirSync(join(stage, 'DEBIAN'));
    writeFileSync(join(stage, 'DEBIAN/control'), control);
    writeFileSync(join(stage, 'DEBIAN/conffiles'), '/etc/mirrornet/agent.env.example\n');
    for (const script of ['postinst', 'prerm', 'postrm']) {
      cpSync(join(DEPLOY, 'debian', script), join(stage, 'DEBIAN', script));
      chmodSync(join(stage, 'DEBIAN', script), 0o755);
    }
    const file = join(out, `mirrornet_${VERSION}_all.deb`);
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, file], { stdio: ['ignore', 'ignore', 'inherit'] });
    return file;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const out = outIndex >= 0 ? args[outIndex + 1] : join(AGENT, 'release');
if (!out) fail('--out needs a directory');
if (!existsSync(ENTRY)) fail(`${relative(process.cwd(), ENTRY)} is missing: build the agent first (npm run build).`);
mkdirSync(out, { recursive: true });
const single = join(out, 'mirrornet.mjs');
await bundle(single);
const made = [single, tarball(out, single)];
if (!args.includes('--no-deb')) made.push(deb(out, single));
for (const f of made) process.stdout.write(`${relative(process.cwd(), f)}\n`);
