// What the S3 driver of the registry Harbor 2.15 ships (distribution v2.8.3) refuses at start, or ignores, in
// storage.s3: the checks of the constraint inventory (model/constraints/distribution-s3.ts) that a
// HarborInstance value can break. Each finding names the driver's behaviour.
import { S3_AWS_ENDPOINT_MARK, S3_KNOWN_REGIONS, S3_SIZE_LIMITS, S3_STORAGE_CLASSES } from '../../model/constraints/distribution-s3.js';
import type { Finding } from '../../model/finding.js';
import { reporter, type RuleContext, type RuleFamily } from '../rule.js';

const sizes = reporter({ id: 'harbor/s3-chunksize', severity: 'error' });
const driver = reporter({ id: 'harbor/s3-driver', severity: 'error' });

const DRIVER = "Harbor 2.15's registry (distribution v2.8.3's S3 driver)";

function check(ctx: RuleContext): Finding[] {
  const out: Finding[] = [];
  for (const { value: h, file: f } of [...ctx.fleet.harbors.values()]) {
    const s3 = h.storage.s3;
    if (!s3) continue;
    const at = (key: string) => ['storage', 's3', key];

    for (const [key, limit] of Object.entries(S3_SIZE_LIMITS) as [keyof typeof S3_SIZE_LIMITS, (typeof S3_SIZE_LIMITS)[keyof typeof S3_SIZE_LIMITS]][]) {
      const v = s3[key];
      if (v === undefined) continue;
      if (v < limit.min || v > limit.max) {
        const max = limit.max === Number.MAX_SAFE_INTEGER ? '' : ` .. ${limit.max}`;
        const mib = limit.min === 5 * 1024 * 1024 ? ' (5 MiB .. 5 GiB, the part sizes S3 allows)' : '';
        out.push(sizes(f, at(key), `${DRIVER} refuses to start with ${key} ${v}: it takes ${limit.min}${max}${mib}.`));
      } else if (v === 1) {
        out.push(
          sizes(
            f,
            at(key),
            `Harbor 2.15's prepare writes ${key}: 1 as "${key}: true" (in Python 1 == True), which the S3 driver refuses ("invalid value for ${key}: true"): ` +
              `use ${key === 'multipartcopythresholdsize' ? '0 or 2' : '2'} or more.`,
          ),
        );
      }
    }

    if (!s3.regionendpoint && !S3_KNOWN_REGIONS.includes(s3.region)) {
      out.push(
        driver(
          f,
          at('region'),
          `${DRIVER} refuses region ${s3.region} without regionendpoint ("invalid region provided"): it knows only the regions of its aws-sdk-go ` +
            `1.15.11 (${S3_KNOWN_REGIONS.join(', ')}). Set regionendpoint to the S3 endpoint, e.g. https://s3.${s3.region}.amazonaws.com.`,
        ),
      );
    }
    if (s3.v4auth === false && (!s3.regionendpoint || s3.regionendpoint.includes(S3_AWS_ENDPOINT_MARK))) {
      out.push(
        driver(
          f,
          at('v4auth'),
          `${DRIVER} refuses v4auth: false on Amazon S3 ("can only be used with v4 authentication"); ` +
            'it takes version 2 signatures only with a regionendpoint of another S3 service. Remove v4auth.',
        ),
      );
    }
    if (s3.storageclass !== undefined && !S3_STORAGE_CLASSES.includes(s3.storageclass.toUpperCase())) {
      out.push(
        driver(
          f,
          at('storageclass'),
          `${DRIVER} refuses storageclass ${s3.storageclass}: it takes ${S3_STORAGE_CLASSES.join(', ')} (NONE sends no class, for services that have none).`,
        ),
      );
    }
    if (s3.keyid !== undefined && s3.keyid !== '' && s3.encrypt !== true) {
      out.push(
        driver(
          f,
          at('keyid'),
          `The S3 driver sends keyid as the KMS key of every upload but asks for encryption only with encrypt: true, so uploads carry a key ` +
            'without encryption: add encrypt: true, or remove keyid.',
        ),
      );
    }
    const scheme = s3.regionendpoint ? /^(https?):/.exec(s3.regionendpoint)?.[1] : undefined;
    if (scheme === 'http' && s3.secure !== false) {
      out.push(
        driver(
          f,
          at('regionendpoint'),
          'The S3 driver talks to regionendpoint with the scheme it names, and secure only adds a scheme to an endpoint without one: ' +
            'this http:// endpoint sends images and signed requests unencrypted. Use https://, or say secure: false to make it explicit.',
          { severity: 'warning' },
        ),
      );
    } else if (scheme === 'https' && s3.secure === false) {
      out.push(
        driver(
          f,
          at('secure'),
          'secure: false has no effect: the S3 driver uses the scheme regionendpoint names (https://). Remove secure, or use an http:// endpoint.',
          { severity: 'warning' },
        ),
      );
    }
  }
  return out;
}

export const harborS3Rules: RuleFamily = {
  id: 'harbor-s3',
  rules: [
    {
      id: 'harbor/s3-chunksize',
      severity: 'error',
      summary:
        'S3 chunksize and multipartcopychunksize are within 5 MiB .. 5 GiB, multipartcopymaxconcurrency at least 1, ' +
        'multipartcopythresholdsize at most 5 GiB, none 1 (prepare writes 1 as true).',
      example: 'chunksize: 1024',
    },
    {
      id: 'harbor/s3-driver',
      severity: 'error',
      summary:
        "What the registry's S3 driver refuses: a region it does not know without regionendpoint, v4auth: false on AWS, an unknown storageclass, " +
        'keyid without encrypt; secure that its endpoint contradicts is a warning.',
      example: 'region: ap-southeast-3 without regionendpoint',
    },
  ],
  check,
};
