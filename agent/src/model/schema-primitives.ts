// The value shapes the kinds in schema.ts share: names, secret references, addresses, CIDRs, URLs and
// durations (in a file of their own, so that schema.ts holds the kinds and stays readable).
import { z } from 'zod';
import { SECRET_REFERENCE } from '../redact.js';
import { HOST, IPV4, IPV6_BRACKETED, PORT } from './address-patterns.js';

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

export const HttpUrl = z.string().regex(new RegExp(`^https?://(${HOST}|${IPV6_BRACKETED})(:${PORT})?([/?#]\\S*)?$`), {
  error: 'must be an http:// or https:// URL with a valid host (IPv4 octets 0-255, RFC 1123 host name) and port (1-65535)',
});

export const Duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, { error: 'must be a duration such as 30s, 15m, 24h or 7d' });
