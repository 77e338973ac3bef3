// Where `mirrornet agent` listens by default and which webhook secrets it refuses: a host listens on its one
// private address (never a public one unless --listen says so), and a short or placeholder secret stops the agent
// before it starts, with a sentence that names the reference and how to make a good one, never the value.
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { resolveListen, webhookSecretProblem } from '../../src/cli/agent-endpoint.js';
import { cli } from '../support/cli.js';

function v4(address: string, internal = false): NetworkInterfaceInfo {
  return { address, family: 'IPv4', internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: `${address}/24` };
}

const MAKE = "Make one with `openssl rand -hex 32`, put it where env:HOOK points and in the webhook's settings on GitHub.";

describe('agent endpoint: default listen address', function () {
  it('auto:PORT is the host private address, not loopback, Docker bridges or tunnels', function () {
    const interfaces = { lo: [v4('127.0.0.1', true)], eth0: [v4('10.136.0.10')], docker0: [v4('172.17.0.1')], mn9836f9ac: [v4('10.255.0.1')] };
    assert.deepEqual(resolveListen('auto:9464', interfaces), { listen: '10.136.0.10:9464' });
  });

  it('a host with only public addresses listens on 127.0.0.1 and says how to change it', function () {
    assert.deepEqual(resolveListen('auto:9464', { lo: [v4('127.0.0.1', true)], ens3: [v4('203.0.113.7')] }), {
      listen: '127.0.0.1:9464',
      note:
        'this host has no private address (10/8, 172.16/12, 192.168/16): listening on 127.0.0.1:9464; ' +
        'pass --listen ADDRESS:9464 for the webhook to reach this agent',
    });
  });

  it('a host with several private addresses does not guess: 127.0.0.1, naming them', function () {
    assert.deepEqual(resolveListen('auto:9000', { eth0: [v4('192.168.1.5')], eth1: [v4('172.20.0.9')] }), {
      listen: '127.0.0.1:9000',
      note:
        'this host has several private addresses (192.168.1.5, 172.20.0.9): listening on 127.0.0.1:9000; ' +
        'pass --listen ADDRESS:9000 for the webhook to reach this agent',
    });
  });

  it('an explicit address, 0.0.0.0 included, is kept as given', function () {
    assert.deepEqual(resolveListen('0.0.0.0:9464', { ens3: [v4('203.0.113.7')] }), { listen: '0.0.0.0:9464' });
    assert.deepEqual(resolveListen('10.1.2.3:80', {}), { listen: '10.1.2.3:80' });
  });
});

describe('agent endpoint: webhook secrets', function () {
  for (const placeholder of ['change-me', 'CHANGEME', 'change_me_to_something_long_and_random', 'secret', 'your-secret-here-please-0123456789', 'xxxxxxxx']) {
    it(`refuses the placeholder ${JSON.stringify(placeholder)}`, function () {
      assert.equal(
        webhookSecretProblem(placeholder, 'env:HOOK'),
        `The webhook secret (env:HOOK) is a placeholder, which anyone could guess: the agent does not start with it. ${MAKE}`,
      );
    });
  }

  it('refuses a secret shorter than 32 characters, saying how long it is', function () {
    assert.equal(
      webhookSecretProblem('k3Jd9sLq0aZ', 'env:HOOK'),
      `The webhook secret (env:HOOK) has 11 characters; at least 32 are needed: the agent does not start with it. ${MAKE}`,
    );
  });

  it('refuses a long secret of a few repeated characters', function () {
    assert.equal(
      webhookSecretProblem('abababababababababababababababababab', 'env:HOOK'),
      `The webhook secret (env:HOOK) repeats a few characters, which anyone could guess: the agent does not start with it. ${MAKE}`,
    );
  });

  it('accepts what openssl rand -hex 32 makes', function () {
    assert.equal(webhookSecretProblem('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'env:HOOK'), undefined);
  });

  it('mirrornet agent exits 1 with the sentence before it starts, and never prints the secret', async function () {
    process.env['MN_TEST_HOOK_SECRET'] = 'change-me';
    try {
      const res = await cli(['agent', '--region', 'eu-amsterdam-idc', '--repo-url', 'file:///nonexistent', '--webhook-secret', 'env:MN_TEST_HOOK_SECRET']);
      assert.equal(res.code, 1);
      assert.equal(
        res.stderr,
        'mirrornet: The webhook secret (env:MN_TEST_HOOK_SECRET) is a placeholder, which anyone could guess: the agent does not start with it. ' +
          "Make one with `openssl rand -hex 32`, put it where env:MN_TEST_HOOK_SECRET points and in the webhook's settings on GitHub.\n",
      );
      assert.equal(res.stdout, '');
    } finally {
      delete process.env['MN_TEST_HOOK_SECRET'];
    }
  });
});
