// The host routes provider's diff, without root: desired routes and `ip -j route show` output written by
// hand, and the exact changes it plans. It creates what is missing, takes over a desired destination that
// goes elsewhere, and deletes only routes that carry its protocol id (157) and are in its inventory.
import assert from 'node:assert/strict';
import type { Desired, DesiredRoute } from '../../src/desired/types.js';
import { routesProvider, type ActualRoutes } from '../../src/providers/routes/index.js';

const TO_BEIJING: DesiredRoute = { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', linkId: 'sg-bj', target: 'cn-beijing' };
const TO_JAKARTA: DesiredRoute = { destination: '10.30.0.0/16', dev: 'wg-ap-jakarta', linkId: 'sg-jk', target: 'ap-jakarta' };
const PEER_HOST: DesiredRoute = { destination: '10.7.0.2/32', dev: 'wg-cn-beijing', linkId: 'sg-bj', target: 'static' };

function desired(routes: DesiredRoute[]): Desired {
  return { site: 'ap-singapore', roles: ['gateway'], routes, wireguard: [] };
}

function diff(routes: DesiredRoute[], actual: ActualRoutes['routes'], owned: string[] = []) {
  return routesProvider.diff(desired(routes), { routes: actual }, new Set(owned));
}

describe('routes provider: diff (no root)', () => {
  it('routes that are in sync are noops, host routes (no /32 in ip output) included', () => {
    const changes = diff(
      [TO_BEIJING, PEER_HOST],
      [
        { dst: '10.20.0.0/16', dev: 'wg-cn-beijing', protocol: '157', scope: 'link' },
        { dst: '10.7.0.2', dev: 'wg-cn-beijing', protocol: 157, scope: 'link' },
        { dst: 'default', dev: 'eth0', gateway: '192.0.2.1', protocol: 'dhcp' },
      ],
      ['10.20.0.0/16', '10.7.0.2/32'],
    );
    assert.deepEqual(changes, [
      {
        provider: 'routes',
        id: '10.20.0.0/16',
        action: 'noop',
        reason: 'in sync',
        after: { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', via: 'cn-beijing' },
      },
      {
        provider: 'routes',
        id: '10.7.0.2/32',
        action: 'noop',
        reason: 'in sync',
        after: { destination: '10.7.0.2/32', dev: 'wg-cn-beijing', via: 'static' },
      },
    ]);
  });

  it('a missing route is created (a blackhole route at the destination does not count)', () => {
    const changes = diff([TO_BEIJING, TO_JAKARTA], [{ dst: '10.30.0.0/16', type: 'blackhole', protocol: 'static' }]);
    assert.deepEqual(changes, [
      {
        provider: 'routes',
        id: '10.20.0.0/16',
        action: 'create',
        reason: 'route 10.20.0.0/16 into wg-cn-beijing (link sg-bj) is missing',
        after: { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', via: 'cn-beijing' },
        data: { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', linkId: 'sg-bj', target: 'cn-beijing' },
      },
      {
        provider: 'routes',
        id: '10.30.0.0/16',
        action: 'create',
        reason: 'route 10.30.0.0/16 into wg-ap-jakarta (link sg-jk) is missing',
        after: { destination: '10.30.0.0/16', dev: 'wg-ap-jakarta', via: 'ap-jakarta' },
        data: { destination: '10.30.0.0/16', dev: 'wg-ap-jakarta', linkId: 'sg-jk', target: 'ap-jakarta' },
      },
    ]);
  });

  it('a route into the wrong interface is updated', () => {
    const changes = diff([TO_BEIJING], [{ dst: '10.20.0.0/16', dev: 'wg-ap-jakarta', protocol: '157' }], ['10.20.0.0/16']);
    assert.deepEqual(changes, [
      {
        provider: 'routes',
        id: '10.20.0.0/16',
        action: 'update',
        reason: 'route 10.20.0.0/16 goes to wg-ap-jakarta instead of wg-cn-beijing',
        before: { destination: '10.20.0.0/16', dev: 'wg-ap-jakarta', gateway: undefined, protocol: '157' },
        after: { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', via: 'cn-beijing' },
        data: { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', linkId: 'sg-bj', target: 'cn-beijing' },
      },
    ]);
  });

  it('a route through a gateway on another interface is updated (someone else’s route at a desired destination is taken over)', () => {
    const changes = diff([TO_BEIJING], [{ dst: '10.20.0.0/16', dev: 'eth0', gateway: '192.0.2.1', protocol: 'static' }]);
    assert.deepEqual(changes, [
      {
        provider: 'routes',
        id: '10.20.0.0/16',
        action: 'update',
        reason: 'route 10.20.0.0/16 goes to eth0 instead of wg-cn-beijing',
        before: { destination: '10.20.0.0/16', dev: 'eth0', gateway: '192.0.2.1', protocol: 'static' },
        after: { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', via: 'cn-beijing' },
        data: { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', linkId: 'sg-bj', target: 'cn-beijing' },
      },
    ]);
  });

  it('the right interface with a gateway added, or without our protocol id, was changed by hand: update', () => {
    const withGateway = diff([TO_BEIJING], [{ dst: '10.20.0.0/16', dev: 'wg-cn-beijing', gateway: '10.7.0.2', protocol: '157' }], ['10.20.0.0/16']);
    assert.deepEqual(
      withGateway.map((c) => [c.id, c.action, c.reason, c.before]),
      [
        [
          '10.20.0.0/16',
          'update',
          'route 10.20.0.0/16 was changed by hand',
          { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', gateway: '10.7.0.2', protocol: '157' },
        ],
      ],
    );
    const byHand = diff([TO_BEIJING], [{ dst: '10.20.0.0/16', dev: 'wg-cn-beijing', protocol: 'static' }], ['10.20.0.0/16']);
    assert.deepEqual(
      byHand.map((c) => [c.id, c.action, c.reason, c.before]),
      [
        [
          '10.20.0.0/16',
          'update',
          'route 10.20.0.0/16 was changed by hand',
          { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', gateway: undefined, protocol: 'static' },
        ],
      ],
    );
  });

  it('a route of ours in the inventory that is no longer desired is deleted', () => {
    const changes = diff(
      [TO_BEIJING],
      [
        { dst: '10.20.0.0/16', dev: 'wg-cn-beijing', protocol: '157' },
        { dst: '10.30.0.0/16', dev: 'wg-ap-jakarta', protocol: '157' },
      ],
      ['10.20.0.0/16', '10.30.0.0/16'],
    );
    assert.deepEqual(changes, [
      {
        provider: 'routes',
        id: '10.20.0.0/16',
        action: 'noop',
        reason: 'in sync',
        after: { destination: '10.20.0.0/16', dev: 'wg-cn-beijing', via: 'cn-beijing' },
      },
      {
        provider: 'routes',
        id: '10.30.0.0/16',
        action: 'delete',
        reason: 'route 10.30.0.0/16 is no longer in the repository',
        before: { destination: '10.30.0.0/16', dev: 'wg-ap-jakarta' },
        data: { destination: '10.30.0.0/16', dev: 'wg-ap-jakarta' },
      },
    ]);
  });

  it('a host route of ours in the inventory is deleted under its /32 id', () => {
    const changes = diff([], [{ dst: '10.7.0.2', dev: 'wg-cn-beijing', protocol: '157' }], ['10.7.0.2/32']);
    assert.deepEqual(changes, [
      {
        provider: 'routes',
        id: '10.7.0.2/32',
        action: 'delete',
        reason: 'route 10.7.0.2/32 is no longer in the repository',
        before: { destination: '10.7.0.2/32', dev: 'wg-cn-beijing' },
        data: { destination: '10.7.0.2/32', dev: 'wg-cn-beijing' },
      },
    ]);
  });

  it('never deletes a foreign route: another protocol even when in the inventory, or ours but not in the inventory', () => {
    const changes = diff(
      [],
      [
        { dst: '10.30.0.0/16', dev: 'wg-ap-jakarta', protocol: 'static' },
        { dst: '10.31.0.0/16', dev: 'wg-ap-jakarta', protocol: 'kernel', scope: 'link' },
        { dst: '10.40.0.0/16', dev: 'wg-us-virginia', protocol: '157' },
        { dst: '10.41.0.0/16', dev: 'wg-us-virginia', protocol: 157 },
        { dst: 'default', dev: 'eth0', gateway: '192.0.2.1', protocol: 'dhcp' },
      ],
      ['10.30.0.0/16', '10.31.0.0/16'],
    );
    assert.deepEqual(changes, []);
  });

  it('nothing desired and nothing owned: no changes', () => {
    assert.deepEqual(diff([], [{ dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link' }]), []);
  });
});
