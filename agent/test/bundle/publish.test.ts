// `mirrornet publish` end to end against a real OCI registry (Debian's docker-registry on a free port):
// the manifest is served by the commit and the channel tag, every layer matches its digest, and the
// signature inside each site's layer verifies against an allowed-signers file. Also its exit codes without a registry.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signedDigestOf } from '../../src/bundle/build.js';
import { verifyDigest } from '../../src/bundle/sign.js';
import { localExec } from '../../src/host/exec.js';
import { missingCommand, need } from '../support/capabilities.js';
import { git } from '../support/git.js';
import { cli, freePort, makeSigningKey, OCI_MANIFEST, repoRoot, startRegistry, type TestRegistry } from './registry-fixture.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('mirrornet publish', function () {
  this.timeout(60_000);

  it('refuses a --to that is not an OCI reference as a usage error (exit 2)', async () => {
    const res = await cli(['publish', '--repo', repoRoot, '--to', 'https://registry.example/fleet']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /^mirrornet: --to: https:\/\/registry\.example\/fleet is not an OCI reference: give oci:\/\/HOST\/PROJECT\/REPO\[:TAG\]/);
  });

  it('refuses a signing key given as a value rather than a reference, without repeating it (exit 2)', async () => {
    const res = await cli(['publish', '--repo', repoRoot, '--to', 'oci://registry.example/fleet', '--sign-key', 'AAAAC3NzaC1lZDI1NTE5AAAAIKEY']);
    assert.equal(res.code, 2);
    assert.ok(!res.stderr.includes('AAAAC3NzaC1lZDI1NTE5AAAAIKEY'));
  });

  it('names the registry and what to do when it cannot be reached (exit 1)', async () => {
    const port = await freePort();
    const res = await cli(['publish', '--repo', repoRoot, '--to', `oci+http://127.0.0.1:${port}/mirrornet/fleet`]);
    assert.equal(res.code, 1);
    assert.match(
      res.stderr,
      new RegExp(`^mirrornet: Cannot reach the registry 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\) to read the manifest mirrornet/fleet:main: check the addr`),
    );
  });

  describe('against docker-registry', function () {
    let tmp: string;
    let registry: TestRegistry | undefined;
    let base: string;

    before(async function () {
      need(this, missingCommand('docker-registry', 'docker-registry'));
      need(this, missingCommand('ssh-keygen', 'openssh-client'));
      tmp = mkdtempSync(join(tmpdir(), 'mn-publish-'));
      registry = await startRegistry(tmp);
      base = registry.base;
      writeFileSync(join(tmp, 'allowed_signers'), makeSigningKey(tmp, 'key', 'ci@example.org').allowedLine);
    });
    after(async () => {
      await registry?.kill();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it('an agent --once process ends as soon as its tick has: no connection to the registry keeps it running', async () => {
      // The registry answers 404 for a channel nobody published: the tick fails, the process must end right away.
      // (A connection left open used to keep it alive until its 60 s timeout.)
      const child = spawn(
        process.execPath,
        [
          join(repoRoot, 'agent/bin/mirrornet.js'),
          'agent',
          '--once',
          '--no-chat',
          '--region',
          'us-virginia',
          '--roles',
          'node',
          '--root',
          join(tmp, 'once-host'),
          '--source',
          `oci+http://${base.slice('http://'.length)}/mirrornet/nobody`,
          '--allowed-signers',
          join(tmp, 'allowed_signers'),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MIRRORNET_LOG_LEVEL: 'silent' } },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      clearTimeout(killer);
      assert.equal(signal, null, 'it ended on its own (not killed after 30 s)');
      assert.equal(code, 1);
      assert.match(out, /There is no bundle for us-virginia at 127\.0\.0\.1:\d+\/mirrornet\/nobody:main\.us-virginia/);
    });

    it('pushes a signed bundle the registry serves by the commit and the channel, every layer matching its digest', async () => {
      const head = await git(repoRoot, ['rev-parse', 'HEAD']);
      const to = `oci+http://${base.slice('http://'.length)}/mirrornet/fleet`;
      const res = await cli(['publish', '--repo', repoRoot, '--revision', 'HEAD', '--to', to, '--sign-key', `file:${join(tmp, 'key')}`, '--format', 'json']);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stderr, '');
      const out = JSON.parse(res.stdout) as { digest: string; tags: string[]; sites: string[]; signed: boolean };
      assert.deepEqual(out.tags, [head, 'main']);
      assert.equal(out.sites.length, 8);
      assert.equal(out.signed, true);
      assert.ok(!res.stdout.includes('BEGIN OPENSSH PRIVATE KEY'));

      const manifests: Buffer[] = [];
      for (const tag of [head, 'main']) {
        const m = await fetch(`${base}/v2/mirrornet/fleet/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
        assert.equal(m.status, 200);
        assert.equal(m.headers.get('docker-content-digest'), out.digest);
        manifests.push(Buffer.from(await m.arrayBuffer()));
      }
      assert.ok(manifests[0]!.equals(manifests[1]!));
      assert.equal(sha256(manifests[0]!), out.digest);
      const manifest = JSON.parse(manifests[0]!.toString()) as {
        config: { digest: string };
        layers: { digest: string; annotations: Record<string, string> }[];
      };
      const index = JSON.parse(Buffer.from(await (await fetch(`${base}/v2/mirrornet/fleet/blobs/${manifest.config.digest}`)).arrayBuffer()).toString()) as {
        revision: string;
        sites: Record<string, { digest: string }>;
      };
      assert.equal(index.revision, head);
      assert.equal(manifest.layers.length, 8);
      for (const layer of manifest.layers) {
        const blob = Buffer.from(await (await fetch(`${base}/v2/mirrornet/fleet/blobs/${layer.digest}`)).arrayBuffer());
        assert.equal(sha256(blob), layer.digest);
        assert.equal(index.sites[layer.annotations['io.mirrornet.site']!]!.digest, layer.digest);
      }

      // No signature artifact beside the bundle: each layer carries its own.
      const beside = await fetch(`${base}/v2/mirrornet/fleet/manifests/${out.digest.replace(':', '-')}.sig`, {
        method: 'HEAD',
        headers: { accept: OCI_MANIFEST },
      });
      assert.equal(beside.status, 404);

      // Each site's own manifest, tagged main.<site>: its one layer is the bundle's, and the signature inside verifies.
      for (const site of ['cn-shanghai', 'ap-singapore']) {
        const res = await fetch(`${base}/v2/mirrornet/fleet/manifests/main.${site}`, { headers: { accept: OCI_MANIFEST } });
        assert.equal(res.status, 200);
        const siteManifest = JSON.parse(Buffer.from(await res.arrayBuffer()).toString()) as { layers: { digest: string }[]; annotations?: unknown };
        assert.deepEqual(
          siteManifest.layers.map((l) => l.digest),
          [index.sites[site]!.digest],
        );
        assert.equal(siteManifest.annotations, undefined);
        const layer = (await (await fetch(`${base}/v2/mirrornet/fleet/blobs/${index.sites[site]!.digest}`)).json()) as Record<string, unknown>;
        assert.deepEqual([layer['site'], layer['revision'], layer['channel']], [site, head, 'main']);
        assert.deepEqual(await verifyDigest(localExec(), signedDigestOf(layer), layer['signature'] as string, join(tmp, 'allowed_signers')), {
          ok: true,
          principal: 'ci@example.org',
        });
      }
    });

    it("passes the README's check of a published bundle, run as written (curl, jq and ssh-keygen against the registry)", async function () {
      need(this, missingCommand('jq', 'jq'));
      need(this, missingCommand('curl', 'curl'));
      const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
      const block = /Check a published bundle with the registry API[^\n]*\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
      assert.ok(block, 'the README has the check');
      const script = block.replace(/^R=\S+;/m, `R=${base}/v2/mirrornet/fleet;`);
      assert.notEqual(script, block, 'the registry is set on the first line');
      const dir = mkdtempSync(join(tmpdir(), 'mn-readme-check-'));
      try {
        writeFileSync(join(dir, 'allowed_signers'), readFileSync(join(tmp, 'allowed_signers')));
        const res = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, encoding: 'utf8' });
        assert.equal(res.status, 0, `${res.stdout}\n${res.stderr}`);
        assert.match(res.stderr + res.stdout, /Good "mirrornet-bundle" signature for ci@example\.org with ED25519 key/);
        assert.match(res.stdout, /"site": "cn-shanghai"/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('publishes nothing when the channel already holds the revision, and says so', async () => {
      const to = `oci+http://${base.slice('http://'.length)}/mirrornet/fleet`;
      const again = await cli(['publish', '--repo', repoRoot, '--to', to]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^oci\+http:\/\/127\.0\.0\.1:\d+\/mirrornet\/fleet:main already holds [0-9a-f]{12}: nothing to publish\n$/);
      assert.equal(again.stderr, '');
    });

    it("publishes the same revision under another channel as that channel's bundle: each layer names its channel", async () => {
      const to = `oci+http://${base.slice('http://'.length)}/mirrornet/fleet`;
      const first = await cli(['publish', '--repo', repoRoot, '--to', to, '--format', 'json']);
      const second = await cli(['publish', '--repo', repoRoot, '--to', `${to}:stable`, '--format', 'json']);
      assert.equal(second.code, 0, second.stderr);
      const [main, stable] = [first, second].map((r) => JSON.parse(r.stdout) as { digest: string; revision: string; unchanged: boolean });
      assert.deepEqual([main!.unchanged, stable!.unchanged, stable!.revision], [true, false, main!.revision]);
      assert.notEqual(stable!.digest, main!.digest);
      assert.match(second.stderr, /^warning: the bundle is not signed \(no --sign-key\)/);
      assert.equal((await fetch(`${base}/v2/mirrornet/fleet/manifests/stable`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } })).status, 200);
      const m = (await (await fetch(`${base}/v2/mirrornet/fleet/manifests/stable.us-virginia`, { headers: { accept: OCI_MANIFEST } })).json()) as {
        layers: { digest: string }[];
      };
      const layer = (await (await fetch(`${base}/v2/mirrornet/fleet/blobs/${m.layers[0]!.digest}`)).json()) as Record<string, unknown>;
      assert.deepEqual([layer['channel'], layer['signature']], ['stable', undefined]);
    });
  });
});
