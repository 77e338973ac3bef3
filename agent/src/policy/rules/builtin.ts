// Rules reported by the loader while it reads files; listed here so that every rule id is documented.
import type { RuleFamily } from '../rule.js';

export const fileRules: RuleFamily = {
  id: 'file',
  rules: [
    { id: 'file/too-large', severity: 'error', summary: 'A configuration file is at most 1 MiB.', example: 'regions/huge.yaml with 3 MB of generated routes' },
    { id: 'file/encoding', severity: 'error', summary: 'Files are UTF-8.', example: 'a region file saved as GBK or Latin-1' },
    { id: 'file/empty', severity: 'error', summary: 'A file holds one object; an empty file is a mistake.', example: 'regions/new.yaml with only comments' },
    { id: 'file/symlink', severity: 'error', summary: 'Symlinks must stay inside the repository.', example: 'regions/x.yaml -> /etc/passwd' },
    {
      id: 'file/too-many-findings',
      severity: 'error',
      summary: 'At most 100 findings are shown per file; one more finding says how many were left out.',
      example: 'a region file with 100000 misspelled keys',
    },
    { id: 'file/unreadable', severity: 'error', summary: 'Every model file can be read.', example: 'a file with mode 000' },
  ],
};

export const yamlRules: RuleFamily = {
  id: 'yaml',
  rules: [
    { id: 'yaml/syntax', severity: 'error', summary: 'The file is valid YAML, without duplicate keys.', example: 'cidr: [10.136.0.0/16' },
    { id: 'yaml/multiple-documents', severity: 'error', summary: 'One object per file: no `---` separated documents.', example: 'two regions in one file' },
    {
      id: 'yaml/tag',
      severity: 'error',
      summary: 'No YAML tags beyond !!str, !!int, !!float, !!bool, !!null, !!map and !!seq (no !!binary, !!set or custom !tags).',
      example: 'password: !!binary aHVudGVyMg==',
    },
    {
      id: 'yaml/warning',
      severity: 'error',
      summary: 'What the YAML parser only warns about (e.g. an unknown %directive) is an error.',
      example: '%FOO bar before the --- of the document',
    },
    {
      id: 'yaml/control-character',
      severity: 'error',
      summary: 'String values hold no control characters (NUL, escape, carriage return, ...) other than tab and newline.',
      example: 'description: "Jakarta\\0"',
    },
    {
      id: 'yaml/reserved-key',
      severity: 'error',
      summary: 'No key is __proto__, constructor or prototype, at any depth.',
      example: 'labels: {__proto__: x}',
    },
    { id: 'yaml/aliases', severity: 'error', summary: 'No alias bombs: at most 100 alias expansions.', example: 'a: &a [x, x]\nb: &b [*a, *a] ...' },
  ],
};

export const schemaRules: RuleFamily = {
  id: 'schema',
  rules: [
    {
      id: 'schema/header',
      severity: 'warning',
      summary: 'Each file starts with a `# yaml-language-server: $schema=` line for editors.',
      example: 'a region file without the header',
    },
    { id: 'schema/unknown-kind', severity: 'error', summary: '`kind` is one of the known kinds.', example: 'kind: Regoin' },
    {
      id: 'schema/wrong-directory',
      severity: 'error',
      summary: 'Each kind lives in its directory (regions/, hubs/, harbor/, policies/).',
      example: 'a Region in hubs/',
    },
    { id: 'schema/name-mismatch', severity: 'error', summary: '`name` equals the file name.', example: 'regions/eu-frankfurt.yaml with name: eu-paris' },
    {
      id: 'schema/duplicate-name',
      severity: 'error',
      summary: 'Names are unique (hubs and regions share one namespace; one object per policy kind).',
      example: 'regions/x.yaml and regions/x.yml',
    },
    {
      id: 'schema/unknown-key',
      severity: 'error',
      summary: 'Unknown keys are rejected, with a suggestion (dfdaemon silently ignores typos; mirrornet does not).',
      example: 'proxyport: 4001 instead of proxyPort',
    },
    { id: 'schema/required', severity: 'error', summary: 'Required keys are present.', example: 'a region without cidr' },
    { id: 'schema/type', severity: 'error', summary: 'Values have the right type.', example: 'mtu: "1400"' },
    { id: 'schema/value', severity: 'error', summary: 'Enumerations take one of their values.', example: 'area: europe' },
    {
      id: 'schema/format',
      severity: 'error',
      summary: 'Addresses (IPv4 octets 0-255), host names (RFC 1123), ports (1-65535), CIDRs, URLs and durations have the right format.',
      example: 'cidr: 10.136.0.0, address: 10.136.0.256, endpoint: 203.0.113.10:70000',
    },
    { id: 'schema/range', severity: 'error', summary: 'Numbers and lists are within their bounds.', example: 'mtu: 100' },
  ],
};

export const secretRules: RuleFamily = {
  id: 'secrets',
  rules: [
    {
      id: 'secrets/plaintext',
      severity: 'error',
      summary: 'Secret fields hold a reference (env:NAME or file:/path), never the secret; URLs hold no credentials (user:password@).',
      example: 'password: hunter2 (write password: env:HARBOR_DB_PASSWORD)',
    },
  ],
};
