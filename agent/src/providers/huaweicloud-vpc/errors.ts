// The one error of the Huawei Cloud VPC client: its kind (what went wrong, and whether a retry may help),
// the operation, status, error code and request id, and a sentence for the user. Never holds an access key,
// a secret key or an Authorization header (classify.ts passes what comes from the SDK or the service through
// the one redaction layer, redact.ts).
import { MirrornetError } from '../../errors.js';

export type VpcErrorKind =
  'auth' | 'forbidden' | 'not-found' | 'rejected' | 'conflict' | 'throttled' | 'server' | 'network' | 'timeout' | 'response' | 'config';

const RETRYABLE: ReadonlySet<VpcErrorKind> = new Set(['throttled', 'server', 'network', 'timeout']);

export class HuaweiVpcError extends MirrornetError {
  readonly kind: VpcErrorKind;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly requestId: string | undefined;
  readonly operation: string;
  attempts: number;
  constructor(
    init: {
      kind: VpcErrorKind;
      operation: string;
      message: string;
      userMessage: string;
      status?: number;
      code?: string;
      requestId?: string;
      attempts?: number;
    },
    opts?: { cause?: unknown },
  ) {
    super(init.userMessage, { cause: opts?.cause, message: init.message });
    this.kind = init.kind;
    this.retryable = RETRYABLE.has(init.kind);
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.operation = init.operation;
    this.attempts = init.attempts ?? 1;
  }
}

/** The client cannot be configured (credentials, project id, endpoint). */
export function configError(why: string): HuaweiVpcError {
  return new HuaweiVpcError({
    kind: 'config',
    operation: 'configuring the Huawei Cloud client',
    message: why,
    userMessage: `Huawei Cloud credentials are missing: ${why}.`,
  });
}
