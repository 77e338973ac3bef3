// The answers of the chat vendors, as their documentation shows them. All of them answer HTTP 200 with
// an error code in the body for most failures: the body decides, not only the status.
import { z } from 'zod';

/**
 * Feishu/Lark custom bot: `{"code":0,"msg":"success","data":{}}` (older bots add
 * `"StatusCode":0,"StatusMessage":"success"`); failures e.g. `{"code":19021,"msg":"sign match fail or
 * timestamp is not within one hour from current time","data":{}}`.
 */
export const FeishuResponse = z.object({
  code: z.number().optional(),
  msg: z.string().optional(),
  data: z.unknown().optional(),
  StatusCode: z.number().optional(),
  StatusMessage: z.string().optional(),
});
export type FeishuResponse = z.infer<typeof FeishuResponse>;

/** DingTalk robot: `{"errcode":0,"errmsg":"ok"}`; failures e.g. `{"errcode":310000,"errmsg":"sign not match"}`. */
export const DingTalkResponse = z.object({
  errcode: z.number(),
  errmsg: z.string().optional(),
});
export type DingTalkResponse = z.infer<typeof DingTalkResponse>;

/** WeCom group robot: `{"errcode":0,"errmsg":"ok"}`; failures e.g. `{"errcode":93000,"errmsg":"invalid webhook url, ..."}`. */
export const WeComResponse = z.object({
  errcode: z.number(),
  errmsg: z.string().optional(),
});
export type WeComResponse = z.infer<typeof WeComResponse>;

/** Parse a JSON body against a schema; undefined when it is not JSON or not that shape. */
export function parseBody<T>(schema: z.ZodType<T>, text: string): T | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = schema.safeParse(json);
  return r.success ? r.data : undefined;
}
