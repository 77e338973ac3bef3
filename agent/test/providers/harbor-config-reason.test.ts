// The reason line of a harbor.yml that differs from the repository: the key paths that differ (never values),
// in key order, a list by its key, six at most and a count of the rest.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { HarborInstance } from '../../src/model/schema.js';
import { diffHarborConfig, type ActualHarborConfig } from '../../src/providers/harbor-config/index.js';
import { harborYmlModel } from '../../src/providers/harbor-config/render.js';
import { desiredHarbor } from '../../src/desired/harbor.js';

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
const instance = HarborInstance.parse(parse(readFileSync(join(repoRoot, 'harbor/harbor-cn-beijing.yaml'), 'utf8')));

describe('the reason a harbor.yml on the host is drift', () => {
  const reasonFor = (config: unknown): string => {
    const actual: ActualHarborConfig = { exists: true, config, mode: 0o600, secrets: {}, pending: false };
    const [c] = diffHarborConfig({ site: instance.hub, roles: ['hub'], routes: [], wireguard: [], harbor: desiredHarbor(instance, []) }, actual);
    assert.equal(c?.action, 'update');
    return c.reason;
  };
  /** harbor.yml as the repository renders it, with hand edits. */
  const edited = (...edits: ((y: Record<string, Record<string, unknown>>) => void)[]): unknown => {
    const y = structuredClone(harborYmlModel(instance).config) as Record<string, Record<string, unknown>>;
    for (const e of edits) e(y);
    return y;
  };
  const sixEdits = [
    (y: Record<string, unknown>) => (y['_version'] = '2.14.0'),
    (y: Record<string, Record<string, unknown>>) => delete y['cache']!['expire_hours'],
    (y: Record<string, Record<string, unknown>>) => ((y['external_database']!['harbor'] as Record<string, unknown>)['port'] = '5432'),
    (y: Record<string, unknown>) => (y['hostname'] = 'harbor.example.com'),
    (y: Record<string, Record<string, unknown>>) => (y['jobservice']!['job_loggers'] = ['FILE', 'STD_OUTPUT']),
    (y: Record<string, unknown>) => (y['trivy'] = { skip_update: true }),
  ];

  it('names each key path that differs, sorted key by key, a reordered list by its key', () => {
    assert.equal(
      reasonFor(edited(...sixEdits)),
      'harbor.yml differs from the repository at _version, cache.expire_hours, external_database.harbor.port, hostname, jobservice.job_loggers, trivy',
    );
  });

  it('orders key by key: log.level before log-rotate, though "-" sorts before "."', () => {
    const y = edited(
      (y) => (y['log-rotate'] = {}),
      (y) => (y['log']!['level'] = 'debug'),
    );
    assert.equal(reasonFor(y), 'harbor.yml differs from the repository at log.level, log-rotate');
  });

  it('names six key paths and counts the rest', () => {
    const more = edited(
      ...sixEdits,
      (y) => (y['log']!['local'] = 'on'),
      (y) => (y['metric']!['port'] = 9191),
    );
    assert.equal(
      reasonFor(more),
      'harbor.yml differs from the repository at _version, cache.expire_hours, external_database.harbor.port, hostname, jobservice.job_loggers, ' +
        'log.local, and 2 more',
    );
  });

  it('names the whole document when it is not a mapping', () => {
    assert.equal(reasonFor(null), 'harbor.yml differs from the repository at (document)');
    assert.equal(reasonFor(['hostname']), 'harbor.yml differs from the repository at (document)');
  });
});
