// Regular expressions (as strings, so they compose and become JSON Schema patterns that editors check too)
// for what the schemas call addresses: IPv4 addresses, ports and host names per RFC 1123.

/** 0-255 without leading zeros (010 is octal to some tools). */
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
export const IPV4 = `${OCTET}(\\.${OCTET}){3}`;
/** 1-65535. */
export const PORT = '([1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])';
const LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/**
 * A host name per RFC 1123: at most 253 characters of dot-separated labels (letters, digits, inner dashes,
 * at most 63 characters each); the last label is not all digits, so 10.1.1.300 is no host name.
 */
const HOSTNAME = `(?=[A-Za-z0-9.-]{1,253}(?![A-Za-z0-9.-]))(${LABEL}\\.)*(?![0-9]+(?![A-Za-z0-9-]))${LABEL}`;
/** A host: an IPv4 address or an RFC 1123 host name. */
export const HOST = `(${IPV4}|${HOSTNAME})`;
/** An IPv6 address in brackets, where a port may follow. */
export const IPV6_BRACKETED = '\\[[0-9A-Fa-f:.]+\\]';

/** host[:port] entries separated by commas (Redis, or its sentinels). */
export const HOST_PORT_LIST = `(${HOST}|${IPV6_BRACKETED})(:${PORT})?(,(${HOST}|${IPV6_BRACKETED})(:${PORT})?)*`;
