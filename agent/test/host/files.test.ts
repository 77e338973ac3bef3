// Atomic host file writes: keep mode and owner, keep exactly one backup, leave no temp files, and a writer
// killed at any moment never leaves a truncated file behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKUP_SUFFIX, HostFiles } from '../../src/host/files.js';
import { missingRoot, need } from '../support/capabilities.js';

const FILES_JS = new URL('../../src/host/files.js', import.meta.url).href;

describe('HostFiles.writeAtomic', () => {
  let tmp: string;
  let files: HostFiles;
  const real = (p: string) => join(tmp, p);
  const dirOf = (p: string) => readdirSync(join(tmp, p)).sort();

  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mn-files-'));
    files = new HostFiles(tmp);
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes under the root prefix, creating directories, with the requested mode for a new file', async () => {
    await files.writeAtomic('/etc/app/new.conf', 'one\n', { mode: 0o640 });
    assert.equal(readFileSync(real('etc/app/new.conf'), 'utf8'), 'one\n');
    assert.equal(statSync(real('etc/app/new.conf')).mode & 0o7777, 0o640);
    assert.deepEqual(dirOf('etc/app'), ['new.conf'], 'no backup for a new file, no temp file');
    assert.equal(await files.read('/etc/app/new.conf'), 'one\n');
    assert.equal(await files.read('/etc/app/missing.conf'), undefined);
  });

  it('keeps the mode of an existing file (0640), whatever mode the caller asks for', async () => {
    mkdirSync(real('etc'), { recursive: true });
    writeFileSync(real('etc/secret.conf'), 'old\n');
    chmodSync(real('etc/secret.conf'), 0o640);
    await files.writeAtomic('/etc/secret.conf', 'new\n', { mode: 0o644 });
    assert.equal(statSync(real('etc/secret.conf')).mode & 0o7777, 0o640);
    await files.writeAtomic('/etc/secret.conf', 'newer\n');
    assert.equal(statSync(real('etc/secret.conf')).mode & 0o7777, 0o640);
    assert.equal(readFileSync(real('etc/secret.conf'), 'utf8'), 'newer\n');
  });

  it('keeps the owner and group of an existing file', async function () {
    need(this, missingRoot());
    mkdirSync(real('etc'), { recursive: true });
    writeFileSync(real('etc/owned.conf'), 'old\n');
    chmodSync(real('etc/owned.conf'), 0o640);
    chownSync(real('etc/owned.conf'), 4242, 4343);
    await files.writeAtomic('/etc/owned.conf', 'new\n', { mode: 0o644 });
    const st = statSync(real('etc/owned.conf'));
    assert.equal(st.uid, 4242);
    assert.equal(st.gid, 4343);
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(readFileSync(real('etc/owned.conf'), 'utf8'), 'new\n');
  });

  it('keeps exactly one backup, <file>.mirrornet.bak, with the previous content', async () => {
    await files.writeAtomic('/etc/x.conf', 'v1\n');
    assert.deepEqual(dirOf('etc'), ['x.conf']);
    await files.writeAtomic('/etc/x.conf', 'v2\n');
    assert.deepEqual(dirOf('etc'), ['x.conf', `x.conf${BACKUP_SUFFIX}`]);
    assert.equal(readFileSync(real(`etc/x.conf${BACKUP_SUFFIX}`), 'utf8'), 'v1\n');
    await files.writeAtomic('/etc/x.conf', 'v3\n');
    await files.writeAtomic('/etc/x.conf', 'v4\n');
    assert.deepEqual(dirOf('etc'), ['x.conf', `x.conf${BACKUP_SUFFIX}`], 'one backup, no temp files');
    assert.equal(readFileSync(real(`etc/x.conf${BACKUP_SUFFIX}`), 'utf8'), 'v3\n');
    assert.equal(readFileSync(real('etc/x.conf'), 'utf8'), 'v4\n');
  });

  it('leaves no temp file when the write fails, and the target as it was', async () => {
    mkdirSync(real('etc/x.conf/inside'), { recursive: true }); // the "file" is a directory: rename must fail
    await assert.rejects(files.writeAtomic('/etc/x.conf', 'data\n'));
    assert.deepEqual(dirOf('etc'), ['x.conf']);
    assert.deepEqual(dirOf('etc/x.conf'), ['inside']);
  });

  it('cleanTemps removes what a killed writer left, and nothing else', async () => {
    mkdirSync(real('etc'), { recursive: true });
    writeFileSync(real('etc/.x.conf.mirrornet-tmp-123-abcd'), 'half');
    writeFileSync(real('etc/x.conf'), 'keep');
    writeFileSync(real('etc/other.conf'), 'keep');
    await files.cleanTemps('/etc');
    assert.deepEqual(dirOf('etc'), ['other.conf', 'x.conf']);
  });

  describe('a writer killed with SIGKILL', function () {
    this.timeout(30_000);
    const A = 'A'.repeat(300_000);
    const B = 'B'.repeat(200_000);
    const valid = (text: string | undefined) => text === A || text === B;

    async function killRound(root: string, delayMs: number): Promise<{ seen: Set<string>; bad: number }> {
      const script = join(root, 'writer.mjs');
      writeFileSync(
        script,
        [
          `import { HostFiles } from ${JSON.stringify(FILES_JS)};`,
          'const files = new HostFiles(process.argv[2]);',
          `const A = 'A'.repeat(${A.length}); const B = 'B'.repeat(${B.length});`,
          "await files.writeAtomic('/etc/x.conf', A, { mode: 0o640 });",
          "process.stdout.write('ready\\n');",
          "for (let i = 0; ; i++) await files.writeAtomic('/etc/x.conf', i % 2 ? A : B);",
        ].join('\n'),
      );
      const child = spawn(process.execPath, [script, root], { stdio: ['ignore', 'pipe', 'pipe'] });
      let errors = '';
      child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          child.once('exit', () => reject(new Error(`writer exited early: ${errors}`)));
        });
        // Readers during the writes only ever see a whole version.
        const seen = new Set<string>();
        let bad = 0;
        const until = Date.now() + delayMs;
        while (Date.now() < until) {
          const text = readFileSync(join(root, 'etc/x.conf'), 'utf8');
          if (valid(text)) seen.add(text[0]!);
          else bad++;
          await new Promise((r) => setImmediate(r));
        }
        child.kill('SIGKILL');
        await exited;
        return { seen, bad };
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
      }
    }

    it('never leaves a truncated target; readers only see whole versions; the next write works', async () => {
      const seenAll = new Set<string>();
      for (const delay of [40, 90, 150, 230, 310]) {
        const root = join(tmp, `round-${delay}`);
        mkdirSync(root, { recursive: true });
        const { seen, bad } = await killRound(root, delay);
        seen.forEach((s) => seenAll.add(s));
        assert.equal(bad, 0, 'a reader saw a partial file');
        const target = readFileSync(join(root, 'etc/x.conf'), 'utf8');
        assert.ok(valid(target), `after SIGKILL the target has ${target.length} bytes, not a whole version`);
        assert.equal(statSync(join(root, 'etc/x.conf')).mode & 0o7777, 0o640);
        // Whatever the killed writer left (a temp file at most) is cleaned; then a new write succeeds.
        const hf = new HostFiles(root);
        await hf.cleanTemps('/etc');
        const left = readdirSync(join(root, 'etc')).filter((n) => n !== 'x.conf' && n !== `x.conf${BACKUP_SUFFIX}`);
        assert.deepEqual(left, []);
        await hf.writeAtomic('/etc/x.conf', 'after\n');
        assert.equal(readFileSync(join(root, 'etc/x.conf'), 'utf8'), 'after\n');
      }
      assert.deepEqual([...seenAll].sort(), ['A', 'B'], 'the writer really was rewriting the file while it was killed');
    });

    it('a writer killed in the middle of making the backup leaves the old backup or a whole new one, never a truncated one', async () => {
      // Deterministic: the child's copyFile copies half of the file, then the process SIGKILLs itself, as if
      // the kill landed inside the copy (random kills above show it happens: 0- and 128 KiB backups).
      const root = join(tmp, 'bak');
      mkdirSync(root, { recursive: true });
      const script = join(root, 'writer.mjs');
      writeFileSync(
        script,
        [
          "import { createRequire, syncBuiltinESMExports } from 'node:module';",
          "import { readFileSync, writeFileSync } from 'node:fs';",
          `const { HostFiles } = await import(${JSON.stringify(FILES_JS)});`,
          'const files = new HostFiles(process.argv[2]);',
          `const A = 'A'.repeat(${A.length}); const B = 'B'.repeat(${B.length});`,
          "await files.writeAtomic('/etc/x.conf', A);",
          "await files.writeAtomic('/etc/x.conf', B);", // backup = A, a whole version
          "const fsp = createRequire(import.meta.url)('node:fs/promises');",
          'fsp.copyFile = async (src, dst) => {',
          '  const data = readFileSync(src);',
          '  writeFileSync(dst, data.subarray(0, data.length >> 1));',
          "  process.kill(process.pid, 'SIGKILL');",
          '  await new Promise(() => {});',
          '};',
          'syncBuiltinESMExports();',
          "await files.writeAtomic('/etc/x.conf', A);",
          "process.stdout.write('done\\n');",
        ].join('\n'),
      );
      const child = spawn(process.execPath, [script, root], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const signal = await new Promise<string | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
      clearTimeout(timer);
      assert.equal(stderr, '');
      assert.equal(signal, 'SIGKILL');
      assert.ok(valid(readFileSync(join(root, 'etc/x.conf'), 'utf8')), 'the target is whole');
      const bak = readFileSync(join(root, `etc/x.conf${BACKUP_SUFFIX}`), 'utf8');
      assert.ok(valid(bak), `after SIGKILL the backup has ${bak.length} bytes, not a whole version (it was a whole one before)`);
    });
  });
});
