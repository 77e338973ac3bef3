// The address patterns of the schemas accept what hosts and ports really are and reject the rest:
// octets over 255 or with leading zeros, ports 0 and over 65535, host names that break RFC 1123.
import assert from 'node:assert/strict';
import { HOST, HOST_PORT_LIST, IPV4, PORT } from '../../src/model/address-patterns.js';

const whole = (pattern: string) => new RegExp(`^${pattern}$`);

function check(pattern: string, accepted: string[], rejected: string[]): void {
  const re = whole(pattern);
  assert.deepEqual(
    accepted.filter((s) => !re.test(s)),
    [],
    'accepted',
  );
  assert.deepEqual(
    rejected.filter((s) => re.test(s)),
    [],
    'rejected',
  );
}

describe('address patterns', () => {
  it('IPv4: four numbers 0-255 without leading zeros', () => {
    check(IPV4, ['0.0.0.0', '10.128.0.10', '255.255.255.255', '192.168.1.99'], ['256.1.1.1', '10.1.1.300', '010.1.1.1', '10.1.1', '10.1.1.1.1', '1.2.3.-4']);
  });

  it('ports: 1-65535', () => {
    check(PORT, ['1', '80', '8002', '65003', '65535'], ['0', '00', '080', '65536', '70000', '123456']);
  });

  it('hosts: an IPv4 address or an RFC 1123 host name of at most 253 characters', () => {
    const label63 = 'a'.repeat(63);
    const name253 = `${label63}.${label63}.${label63}.${'b'.repeat(61)}`;
    check(
      HOST,
      ['harbor.sg.mirrornet.internal', 'redis', '10.120.2.20', '1password.com', 'a-b.c', label63, name253],
      ['harbor_sg.internal', '-a.com', 'a-.com', 'a..b', '.a', 'a.', `${'a'.repeat(64)}.com`, `${name253}c`, '999.1.1.1', '10.1.1.300', ''],
    );
  });

  it('host lists: host:port entries separated by commas', () => {
    check(HOST_PORT_LIST, ['10.128.2.30:6379', 'sentinel-1:26379,sentinel-2:26379', 'redis', '[::1]:6379'], ['10.128.2.30:99999', 'a:1,', ',a', 'a:0']);
  });
});
