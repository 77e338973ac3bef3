// The Notifications schema's vocabularies: every provider is a component a route can name (a new provider
// fails to compile here until it is listed, and then the schema must accept it), and a mute window says
// which time zone its schedule is in.
import assert from 'node:assert/strict';
import { Notifications } from '../../src/model/schema.js';
import type { ProviderId } from '../../src/providers/types.js';

const PROVIDERS: Record<ProviderId, true> = {
  routes: true,
  wireguard: true,
  containerd: true,
  docker: true,
  dragonfly: true,
  'huaweicloud-vpc': true,
  'harbor-config': true,
  postgres: true,
  'harbor-api': true,
};

const base = { kind: 'Notifications', name: 'notifications', channels: [{ name: 'ops', type: 'slack', url: 'env:URL' }] };

describe('the Notifications schema', () => {
  it('accepts every provider, and the agent steps, as a component a route matches or excludes', () => {
    const components = [...Object.keys(PROVIDERS), 'fetch', 'verify', 'validate', 'read', 'state', 'apply', 'lock', 'source', 'publish', 'hook', 'command'];
    const parsed = Notifications.safeParse({ ...base, routes: [{ match: { components }, exclude: { components: ['docker'] }, channels: ['ops'] }] });
    assert.equal(parsed.success, true, JSON.stringify(parsed.error?.issues));
    assert.equal(Notifications.safeParse({ ...base, routes: [{ match: { components: ['dns'] }, channels: ['ops'] }] }).success, false);
  });

  it('a mute window names its time zone', () => {
    const window = { name: 'maintenance', schedule: '0 2 * * 6', duration: '2h' };
    assert.deepEqual(
      Notifications.safeParse({ ...base, muteWindows: [window] }).error?.issues.map((i) => `${i.path.join('.')}: ${i.code}`),
      ['muteWindows.0.timeZone: invalid_type'],
    );
    assert.equal(Notifications.safeParse({ ...base, muteWindows: [{ ...window, timeZone: 'Asia/Shanghai' }] }).success, true);
  });
});
