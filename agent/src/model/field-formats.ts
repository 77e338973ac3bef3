// The value shapes the kinds in schema.ts share — names, secret references, and the formats of fields that hold
// addresses, ports, host names, URLs, cloud ids and host paths: zod strings with a sentence that says what a
// valid value looks like (the finding adds the value it got, except for secrets), built from address-patterns.ts
// and go-duration.ts so that the generated JSON Schemas check the same in editors.
import { z } from 'zod';
import { SECRET_REFERENCE } from '../redact.js';
import { HOST, HOST_PORT_LIST, IPV4, IPV6_BRACKETED, PORT } from './address-patterns.js';
import { MODEL_DURATION } from './go-duration.js';

/** The two halves of the network (FACTS: Beijing serves mainland China, Singapore everything overseas). */
export const Area = z.enum(['cn', 'overseas']);
export const Provider = z.enum(['huaweicloud', 'aws', 'idc']);

export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/** Marker in messages that a string failed the secret-reference pattern (used to pick the rule id). */
export const SECRET_REF_MESSAGE =
  'is not a secret reference: secrets never live in the repository; write env:NAME (an environment variable on the host) ' +
  'or file:/absolute/path (a file on the host)';

export const Name = z.string().regex(NAME_PATTERN, { error: 'must be lowercase letters, digits and dashes, start with a letter, at most 63 characters' });

export const SecretRef = z
  .string()
  .regex(SECRET_REFERENCE, { error: SECRET_REF_MESSAGE })
  .describe('A secret reference: env:NAME or file:/absolute/path. Never the secret itself.');

export const Ipv4 = z.string().regex(new RegExp(`^${IPV4}$`), { error: 'must be an IPv4 address such as 10.128.0.10 (four numbers 0-255)' });

/** Shape only; the cidr rules check octets, prefix length and alignment with a helpful suggestion. */
export const Cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, { error: 'must be an IPv4 CIDR such as 10.136.0.0/16' });

export const HostPort = z.string().regex(new RegExp(`^(${HOST}|${IPV6_BRACKETED}):${PORT}$`), {
  error: 'must be host:port with an IPv4 address or RFC 1123 host name and a port 1-65535, for example 203.0.113.10:51820',
});

export const Host = z.string().regex(new RegExp(`^(${HOST}|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$`), {
  error: 'must be an IPv4 address, an IPv6 address or an RFC 1123 host name (letters, digits, dashes and dots)',
});

/** Redis: host:port, or its sentinels' host:port separated by commas. */
export const HostPortList = z.string().regex(new RegExp(`^${HOST_PORT_LIST}$`), {
  error: 'must be host:port, or sentinel hosts host:port separated by commas (ports 1-65535)',
});

export const HttpUrl = z.string().regex(new RegExp(`^https?://(${HOST}|${IPV6_BRACKETED})(:${PORT})?([/?#]\\S*)?$`), {
  error: 'must be an http:// or https:// URL with a valid host (IPv4 octets 0-255, RFC 1123 host name) and port (1-65535)',
});

/** Into the VPC endpoint's host name (vpc.<region>.myhuaweicloud.com): one DNS label, starting with a letter like every region id. */
export const CLOUD_REGION_PATTERN = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
export const CloudRegion = z.string().regex(CLOUD_REGION_PATTERN, {
  error: 'must be a cloud region id such as cn-north-4 or eu-central-1 (lowercase letters, digits and dashes)',
});

/** Ids go into API paths and request bodies: nothing that reads as a path, a query or a space. */
const CLOUD_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const CloudId = z.string().regex(CLOUD_ID, {
  error: 'must be a cloud resource id such as vpc-0a1b2c3d or a UUID (letters, digits, dots, dashes and underscores, at most 128 characters)',
});

/** A route-table next hop of type ecs or vpn is the instance id; an address there is refused by the cloud API. */
export const NextHop = z.string().regex(new RegExp(`^(?![0-9.]+$)${CLOUD_ID.source.slice(1)}`), {
  error:
    'must be the cloud resource id of the next hop (the gateway ECS id of a WireGuard end, the VPN gateway id of an IPsec end), ' +
    'such as ecs-bj-gw1-7f3a9c21, not an address: the cloud route table takes the instance',
});

/** A path on the host: relative paths would depend on the directory the agent happens to run in. */
export const HostPath = z.string().regex(/^\//, { error: 'must be an absolute path on the host, such as /opt/harbor' });

export const Duration = z.string().regex(MODEL_DURATION, { error: 'must be a duration such as 30s, 15m, 24h or 7d' });

export const Port = z.int().min(1).max(65535);
