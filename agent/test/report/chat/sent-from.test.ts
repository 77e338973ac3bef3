// In a site tree each channel is sent by one side: the gateways (default) or their core, for a channel only
// the core's side of the border reaches. Each side's policy keeps its channels, and routes keep their names.
import assert from 'node:assert/strict';
import type { Notifications } from '../../../src/model/schema.js';
import { sentFrom } from '../../../src/report/chat/routing.js';

const policy = {
  kind: 'Notifications',
  name: 'notifications',
  reminder: '24h',
  dedupWindow: '5m',
  channels: [
    { name: 'network-cn', type: 'feishu', url: 'env:A', mentionOn: ['critical'] },
    { name: 'platform-intl', type: 'slack', url: 'env:B', mentionOn: ['critical'], sentFrom: 'core' },
  ],
  routes: [
    { name: 'cn', match: { areas: ['cn'] }, channels: ['network-cn', 'platform-intl'] },
    { name: 'intl', match: { areas: ['overseas'] }, channels: ['platform-intl'] },
  ],
} as unknown as Notifications;

describe('which side of a site tree sends to a channel', () => {
  it('a gateway keeps the channels it sends to (the default), with every route', () => {
    const mine = sentFrom(policy, 'gateway');
    assert.deepEqual(
      mine.channels.map((c) => c.name),
      ['network-cn'],
    );
    assert.deepEqual(
      mine.routes.map((r) => [r.name, r.channels]),
      [
        ['cn', ['network-cn']],
        ['intl', []],
      ],
    );
  });

  it('a core keeps the channels marked sentFrom: core', () => {
    const mine = sentFrom(policy, 'core');
    assert.deepEqual(
      mine.routes.map((r) => [r.name, r.channels]),
      [
        ['cn', ['platform-intl']],
        ['intl', ['platform-intl']],
      ],
    );
  });
});
