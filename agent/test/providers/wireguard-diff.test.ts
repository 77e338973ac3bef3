// The WireGuard provider's diff, without root: desired tunnels and the interfaces as `ip -j link show`,
// `wg show all dump` and iptables would report them, written by hand, and the exact changes it plans.
// Every difference is named in the reason; only interfaces in the inventory are ever deleted.
import assert from 'node:assert/strict';
import type { Desired, DesiredWireguard } from '../../src/desired/types.js';
import type { Change } from '../../src/providers/types.js';
import { wireguardProvider, type ActualInterface, type ActualWireguard } from '../../src/providers/wireguard/index.js';

// Public keys as `wg` prints them; the diff only compares them, so they need not be real curve points.
const OUR_KEY = 'c2luZ2Fwb3JlLXB1YmxpYy1rZXktMDAwMDAwMDAwMDA=';
const OTHER_KEY = 'b3RoZXItcHVibGljLWtleS0wMDAwMDAwMDAwMDAwMDA=';
const PEER_KEY = 'YmVpamluZy1wdWJsaWMta2V5LTAwMDAwMDAwMDAwMDA=';
const STRANGER_KEY = 'c3RyYW5nZXItcHVibGljLWtleS0wMDAwMDAwMDAwMDA=';

const TO_BEIJING: DesiredWireguard = {
  name: 'wg-cn-beijing',
  linkId: 'sg-bj',
  remoteSite: 'cn-beijing',
  listenPort: 51820,
  privateKey: 'file:/etc/mirrornet/wg-ap-singapore.key',
  mtu: 1420,
  mssClamp: true,
  peer: { publicKey: PEER_KEY, endpoint: '203.0.113.20:51820', allowedIps: ['10.7.0.2/32', '10.20.0.0/16'], persistentKeepalive: 25 },
};

/** describeInterface(TO_BEIJING, OUR_KEY), written out. */
const AFTER = {
  interface: 'wg-cn-beijing',
  link: 'sg-bj',
  listenPort: 51820,
  mtu: 1420,
  publicKey: OUR_KEY,
  peer: { publicKey: PEER_KEY, endpoint: '203.0.113.20:51820', allowedIps: ['10.7.0.2/32', '10.20.0.0/16'], persistentKeepalive: 25 },
  mssClamp: true,
};

/** The settings a plan shows for TO_BEIJING on a host (the public key derived from its private key), written out. */
const SETTINGS = [
  '[Interface]',
  '# wg-cn-beijing',
  `PublicKey = ${OUR_KEY}`,
  'ListenPort = 51820',
  'MTU = 1420',
  'MSSClamp = pmtu',
  'State = up',
  '',
  '[Peer]',
  `PublicKey = ${PEER_KEY}`,
  'Endpoint = 203.0.113.20:51820',
  'AllowedIPs = 10.20.0.0/16, 10.7.0.2/32',
  'PersistentKeepalive = 25',
  '',
].join('\n');

/** The interface exactly as TO_BEIJING wants it (peer allowed IPs sorted, as parseWgDump leaves them). */
function inSync(): ActualInterface {
  return {
    name: 'wg-cn-beijing',
    mtu: 1420,
    up: true,
    wg: {
      publicKey: OUR_KEY,
      listenPort: 51820,
      peers: [
        { publicKey: PEER_KEY, endpoint: '203.0.113.20:51820', allowedIps: ['10.20.0.0/16', '10.7.0.2/32'], persistentKeepalive: 25, latestHandshake: 0 },
      ],
    },
    mss: 'pmtu',
  };
}

function desired(wireguard: DesiredWireguard[]): Desired {
  return { site: 'ap-singapore', roles: ['gateway'], routes: [], wireguard };
}

function actual(interfaces: ActualInterface[], secretErrors: [string, string][] = []): ActualWireguard {
  return {
    interfaces: new Map(interfaces.map((i) => [i.name, i])),
    desiredPublicKeys: new Map([['wg-cn-beijing', OUR_KEY]]),
    secretErrors: new Map(secretErrors),
  };
}

function diff(wireguard: DesiredWireguard[], interfaces: ActualInterface[], owned: string[] = []): Change[] {
  return wireguardProvider.diff(desired(wireguard), actual(interfaces), new Set(owned));
}

/** The one update the diff plans for TO_BEIJING against `have`: its reason and its `before`. */
function update(have: ActualInterface): { reason: string; before: unknown } {
  const changes = diff([TO_BEIJING], [have], ['wg-cn-beijing']);
  assert.deepEqual(
    changes.map((c) => [c.provider, c.id, c.action, c.after, c.data]),
    [['wireguard', 'wg-cn-beijing', 'update', AFTER, TO_BEIJING]],
  );
  return { reason: changes[0]!.reason, before: changes[0]!.before };
}

describe('wireguard provider: diff (no root)', () => {
  it('an interface in sync is a noop', () => {
    assert.deepEqual(diff([TO_BEIJING], [inSync()], ['wg-cn-beijing']), [
      { provider: 'wireguard', id: 'wg-cn-beijing', action: 'noop', reason: 'in sync', after: AFTER },
    ]);
  });

  it('a missing interface is created, with the settings it gets for the plan to show', () => {
    assert.deepEqual(diff([TO_BEIJING], []), [
      {
        provider: 'wireguard',
        id: 'wg-cn-beijing',
        action: 'create',
        reason: 'tunnel to cn-beijing (sg-bj) does not exist',
        after: AFTER,
        data: TO_BEIJING,
        file: { path: 'wireguard:wg-cn-beijing', after: SETTINGS },
      },
    ]);
  });

  it('an update shows the settings read from the host against the wanted ones, never a private key', () => {
    const have = inSync();
    have.mtu = 1500;
    const [change] = diff([TO_BEIJING], [have], ['wg-cn-beijing']);
    assert.deepEqual(change!.file, { path: 'wireguard:wg-cn-beijing', before: SETTINGS.replace('MTU = 1420', 'MTU = 1500'), after: SETTINGS });
  });

  it('a link of that name that is not a WireGuard interface (no wg dump) is created too', () => {
    const notWireguard: ActualInterface = { name: 'wg-cn-beijing', mtu: 1500, up: true };
    assert.deepEqual(
      diff([TO_BEIJING], [notWireguard]).map(({ file: _file, ...c }) => c),
      [{ provider: 'wireguard', id: 'wg-cn-beijing', action: 'create', reason: 'tunnel to cn-beijing (sg-bj) does not exist', after: AFTER, data: TO_BEIJING }],
    );
  });

  it('a wrong listen port is an update that names it', () => {
    const have = inSync();
    have.wg!.listenPort = 51821;
    assert.deepEqual(update(have), {
      reason: 'listen port is 51821, want 51820',
      before: {
        interface: 'wg-cn-beijing',
        listenPort: 51821,
        mtu: 1420,
        publicKey: OUR_KEY,
        peers: [{ publicKey: PEER_KEY, endpoint: '203.0.113.20:51820', allowedIps: ['10.20.0.0/16', '10.7.0.2/32'] }],
        mss: 'pmtu',
      },
    });
  });

  it('a wrong MTU is an update that names it', () => {
    const have = inSync();
    have.mtu = 1500;
    assert.equal(update(have).reason, 'MTU is 1500, want 1420');
  });

  it('a wrong peer endpoint is an update that names it', () => {
    const have = inSync();
    have.wg!.peers[0]!.endpoint = '198.51.100.9:51820';
    assert.deepEqual(update(have), {
      reason: 'endpoint is 198.51.100.9:51820, want 203.0.113.20:51820',
      before: {
        interface: 'wg-cn-beijing',
        listenPort: 51820,
        mtu: 1420,
        publicKey: OUR_KEY,
        peers: [{ publicKey: PEER_KEY, endpoint: '198.51.100.9:51820', allowedIps: ['10.20.0.0/16', '10.7.0.2/32'] }],
        mss: 'pmtu',
      },
    });
  });

  it('a peer without an endpoint yet is an update', () => {
    const have = inSync();
    delete have.wg!.peers[0]!.endpoint;
    assert.equal(update(have).reason, 'endpoint is unset, want 203.0.113.20:51820');
  });

  it('wrong allowed IPs are an update that names them', () => {
    const have = inSync();
    have.wg!.peers[0]!.allowedIps = ['10.20.0.0/16'];
    assert.equal(update(have).reason, 'allowed IPs are 10.20.0.0/16, want 10.7.0.2/32,10.20.0.0/16');
    have.wg!.peers[0]!.allowedIps = [];
    assert.equal(update(have).reason, 'allowed IPs are empty, want 10.7.0.2/32,10.20.0.0/16');
  });

  it('an interface key that is not the one of the secret is an update', () => {
    const have = inSync();
    have.wg!.publicKey = OTHER_KEY;
    const { reason, before } = update(have);
    assert.equal(reason, 'private key differs from the secret');
    assert.equal((before as { publicKey: string }).publicKey, OTHER_KEY);
  });

  it('a peer with another public key: the wanted peer is missing and the other one is unknown', () => {
    const have = inSync();
    have.wg!.peers[0]!.publicKey = STRANGER_KEY;
    assert.equal(update(have).reason, 'peer YmVpamlu… is missing; 1 unknown peer(s)');
  });

  it('keepalive, a down interface and MSS clamping are named too, every difference in one reason', () => {
    const have = inSync();
    have.up = false;
    have.mtu = 1380;
    have.wg!.listenPort = 51000;
    have.wg!.peers[0]!.persistentKeepalive = undefined;
    delete have.mss;
    assert.equal(
      update(have).reason,
      'interface is down; MTU is 1380, want 1420; listen port is 51000, want 51820; keepalive is off, want 25; MSS clamping is off, want pmtu',
    );
  });

  it('a secret that cannot be read is reported on the interface (update when it exists, create when not)', () => {
    const error = 'secret file:/etc/mirrornet/wg-ap-singapore.key cannot be read';
    const broken = (interfaces: ActualInterface[]): Change[] =>
      wireguardProvider.diff(desired([TO_BEIJING]), actual(interfaces, [['wg-cn-beijing', error]]), new Set(['wg-cn-beijing']));
    assert.deepEqual(broken([inSync()]), [{ provider: 'wireguard', id: 'wg-cn-beijing', action: 'update', reason: error, after: AFTER, data: TO_BEIJING }]);
    assert.deepEqual(broken([]), [{ provider: 'wireguard', id: 'wg-cn-beijing', action: 'create', reason: error, after: AFTER, data: TO_BEIJING }]);
  });

  it('an interface in the inventory that is no longer desired is deleted', () => {
    const old: ActualInterface = { ...inSync(), name: 'wg-ap-jakarta' };
    assert.deepEqual(diff([TO_BEIJING], [inSync(), old], ['wg-cn-beijing', 'wg-ap-jakarta']), [
      { provider: 'wireguard', id: 'wg-cn-beijing', action: 'noop', reason: 'in sync', after: AFTER },
      {
        provider: 'wireguard',
        id: 'wg-ap-jakarta',
        action: 'delete',
        reason: 'the link of wg-ap-jakarta is no longer in the repository',
        before: { interface: 'wg-ap-jakarta' },
        data: { name: 'wg-ap-jakarta' },
        file: { path: 'wireguard:wg-ap-jakarta', before: SETTINGS.replace('# wg-cn-beijing', '# wg-ap-jakarta') },
      },
    ]);
  });

  it('an interface in the inventory that is already gone needs nothing', () => {
    assert.deepEqual(diff([], [], ['wg-ap-jakarta']), []);
  });

  it('an interface that is not in the inventory is left alone, even when nothing is desired', () => {
    const foreign: ActualInterface = { ...inSync(), name: 'wg0' };
    assert.deepEqual(diff([], [foreign], ['wg-ap-jakarta']), []);
    assert.deepEqual(diff([TO_BEIJING], [inSync(), foreign], ['wg-cn-beijing']), [
      { provider: 'wireguard', id: 'wg-cn-beijing', action: 'noop', reason: 'in sync', after: AFTER },
    ]);
  });
});
