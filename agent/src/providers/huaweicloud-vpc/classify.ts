// What a Huawei Cloud VPC call's failure means, as a HuaweiVpcError: an SDK exception without an answer
// (timeout, network, the SDK itself) or an error answer. The SDK parses only gateway errors (`error_code`)
// and loses VPC v1 `{"code","message"}`; every status is passed through to us, so all three body shapes are
// parsed here. Whatever a server or a library put in a message goes through the one redaction layer
// (redact.ts: the keys, signed Authorization values), and the header is not even named.
import { networkErrorCode, networkSentence } from '../../host/network.js';
import { redactText } from '../../redact.js';
import { AK_ENV, SK_ENV } from './credentials.js';
import { HuaweiVpcError, type VpcErrorKind } from './errors.js';
import { GatewayErrorBody, NestedErrorBody, VpcErrorBody } from './schema.js';

/** A call of the client, for messages. */
export type Operation = { name: 'show'; table: string } | { name: 'update'; table: string } | { name: 'list'; vpcId?: string };

/** The operation in words, for messages: `reading route table rtb-1`. */
export function describeOperation(op: Operation): string {
  switch (op.name) {
    case 'show':
      return `reading route table ${op.table}`;
    case 'update':
      return `updating route table ${op.table}`;
    case 'list':
      return op.vpcId ? `listing the route tables of VPC ${op.vpcId}` : 'listing the route tables';
  }
}

/** An answer of the service: its status, parsed body and X-Request-Id. */
export interface VpcAnswer {
  status: number;
  body: unknown;
  requestId: string | undefined;
}

/** What the messages say about the client, and how to keep its keys out of them. */
export interface ClientFacts {
  endpoint: string;
  projectId: string;
  timeoutMs: number;
  scrub: (text: string) => string;
}

/** What the SDK dumps on a failed request names the header it signs; messages say "auth header" instead. */
const HEADER_NAME: readonly (readonly [RegExp, string])[] = [[/authorization/gi, 'auth header']];

/** Never let a key or a signature through, whatever a server or a library put in a message. */
export function scrubber(keys: readonly string[]): (text: string) => string {
  return (text) => redactText(text, { secrets: keys, patterns: HEADER_NAME });
}

/**
 * The SDK's exception, reduced to what is safe to keep as a `cause`: its class, scrubbed message, status,
 * code and request id (whatever else a future SDK version might attach, such as the request, stays out).
 */
function sdkCause(scrub: (text: string) => string, err: unknown, msg: string): Error {
  const e = err as { name?: unknown; constructor?: { name?: unknown }; httpStatusCode?: unknown; errorCode?: unknown; requestId?: unknown };
  const name = typeof e?.name === 'string' && e.name !== 'Error' ? e.name : typeof e?.constructor?.name === 'string' ? e.constructor.name : 'Error';
  const cause = new Error(msg);
  cause.name = name;
  Object.assign(cause, {
    ...(typeof e?.httpStatusCode === 'number' ? { httpStatusCode: e.httpStatusCode } : {}),
    ...(typeof e?.errorCode === 'string' ? { errorCode: scrub(e.errorCode) } : {}),
    ...(typeof e?.requestId === 'string' ? { requestId: e.requestId } : {}),
  });
  return cause;
}

/** A call that got no HTTP answer: a timeout, a network failure, or an error of the signer or fetch. */
export function transportError(c: ClientFacts, op: Operation, err: unknown): HuaweiVpcError {
  const e = err as { errorMsg?: unknown; message?: unknown; httpStatusCode?: unknown; requestId?: unknown; errorCode?: unknown };
  const msg = c.scrub(String(e?.errorMsg ?? e?.message ?? err));
  const cause = sdkCause(c.scrub, err, msg);
  const what = describeOperation(op);
  if (typeof e?.httpStatusCode === 'number') {
    return statusError(c, op, {
      status: e.httpStatusCode,
      body: { error_code: e.errorCode, error_msg: msg },
      requestId: typeof e.requestId === 'string' ? e.requestId : undefined,
    });
  }
  if (/timeout of \d+ms exceeded|ETIMEDOUT|ECONNABORTED/i.test(msg) || networkErrorCode(err) === 'ETIMEDOUT') {
    return new HuaweiVpcError(
      {
        kind: 'timeout',
        operation: what,
        message: `${what}: no answer within ${c.timeoutMs} ms`,
        userMessage: `The Huawei Cloud VPC endpoint ${c.endpoint} did not answer within ${c.timeoutMs} ms while ${what}.`,
      },
      { cause },
    );
  }
  const code = networkErrorCode(err) ?? /\b(ECONNRESET|ECONNREFUSED|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)\b/.exec(msg)?.[1];
  const sentence = code === undefined ? undefined : networkSentence('Huawei Cloud VPC', c.endpoint, code);
  if (sentence || /socket hang up|aborted|network/i.test(msg)) {
    return new HuaweiVpcError(
      {
        kind: 'network',
        operation: what,
        message: `${what}: ${msg}`,
        userMessage: sentence ? `${sentence} (while ${what})` : `The Huawei Cloud VPC endpoint ${c.endpoint} could not be reached while ${what} (${msg}).`,
      },
      { cause },
    );
  }
  return new HuaweiVpcError(
    { kind: 'response', operation: what, message: `${what}: ${msg}`, userMessage: `The request to Huawei Cloud failed while ${what}: ${msg}.` },
    { cause },
  );
}

/** An error answer: its kind from the status, code and message from any of the three body shapes. */
function statusError(c: ClientFacts, op: Operation, raw: VpcAnswer): HuaweiVpcError {
  const what = describeOperation(op);
  let code: string | undefined;
  let text: string | undefined;
  let requestId = raw.requestId;
  const vpc = VpcErrorBody.safeParse(raw.body);
  const gw = GatewayErrorBody.safeParse(raw.body);
  const nested = NestedErrorBody.safeParse(raw.body);
  if (gw.success) {
    code = gw.data.error_code;
    text = gw.data.error_msg;
    requestId ??= gw.data.request_id;
  } else if (vpc.success) {
    code = vpc.data.code;
    text = vpc.data.message;
  } else if (nested.success) {
    code = nested.data.error.code;
    text = nested.data.error.message;
  }
  text = text ? c.scrub(text) : undefined;
  const s = raw.status;
  const detail = `HTTP ${s}${code ? ` ${code}` : ''}${text ? `: ${text}` : ''}`;
  const rid = requestId ? ` (request id ${requestId})` : '';
  let kind: VpcErrorKind;
  let userMessage: string;
  if (s === 429) {
    kind = 'throttled';
    userMessage = `Huawei Cloud throttled mirrornet while ${what} (${detail})${rid}.`;
  } else if (s >= 500) {
    kind = 'server';
    userMessage = `Huawei Cloud failed while ${what} (${detail})${rid}.`;
  } else if (s === 401) {
    kind = 'auth';
    userMessage =
      `Huawei Cloud did not accept mirrornet's access key while ${what} (${detail})${rid}. ` +
      `Check the access key and secret key given to the agent (${AK_ENV} / ${SK_ENV} or its secret references); ` +
      'note that five bad signatures in a row lock a key for five minutes.';
  } else if (s === 403) {
    kind = 'forbidden';
    userMessage =
      `Huawei Cloud refused ${what} (${detail})${rid}: ` +
      `the IAM user of this access key needs vpc:routeTables:get and vpc:routeTables:update on project ${c.projectId}.`;
  } else if (s === 404 && op.name !== 'list') {
    kind = 'not-found';
    userMessage =
      `Route table ${op.table} does not exist in project ${c.projectId} (${detail})${rid}. ` + 'Check cloud.routeTables and cloud.projectId in the repository.';
  } else if (s === 409 || /conflict|already/i.test(text ?? '')) {
    kind = 'conflict';
    userMessage = `Huawei Cloud rejected ${what} (${detail})${rid}.`;
  } else {
    kind = 'rejected';
    userMessage = `Huawei Cloud rejected ${what} (${detail})${rid}.`;
  }
  return new HuaweiVpcError({
    kind,
    operation: what,
    message: `${what}: ${detail}${rid}`,
    userMessage,
    status: s,
    ...(code ? { code } : {}),
    ...(requestId ? { requestId } : {}),
  });
}

/** The body of a 2xx answer, checked against its schema; an error answer is thrown as such. */
export function answerBody<T>(
  c: ClientFacts,
  op: Operation,
  raw: VpcAnswer,
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } } },
): T {
  if (raw.status < 200 || raw.status >= 300) throw statusError(c, op, raw);
  const parsed = schema.safeParse(raw.body);
  if (!parsed.success) {
    const what = describeOperation(op);
    throw new HuaweiVpcError({
      kind: 'response',
      operation: what,
      message: `${what}: unexpected response body`,
      userMessage: `Huawei Cloud answered ${what} with a body mirrornet does not understand${raw.requestId ? ` (request id ${raw.requestId})` : ''}.`,
      status: raw.status,
      ...(raw.requestId ? { requestId: raw.requestId } : {}),
    });
  }
  return parsed.data;
}
