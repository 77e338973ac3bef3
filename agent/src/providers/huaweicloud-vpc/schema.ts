// The VPC v1 route-table responses the provider reads (raw snake_case JSON, as the SDK returns it), and
// the error bodies it parses itself (the SDK drops VPC v1 `{"code","message"}`).
import { z } from 'zod';

export const RouteEntry = z.object({
  type: z.string(),
  destination: z.string(),
  nexthop: z
    .string()
    .nullish()
    .transform((v) => v ?? ''),
  description: z
    .string()
    .nullish()
    .transform((v) => v ?? undefined),
});
export type RouteEntry = { type: string; destination: string; nexthop: string; description?: string | undefined };

export const RouteTable = z.object({
  id: z.string(),
  name: z.string().nullish(),
  vpc_id: z.string().nullish(),
  default: z.boolean().nullish(),
  routes: z
    .array(RouteEntry)
    .nullish()
    .transform((v) => v ?? []),
});
export type RouteTable = {
  id: string;
  name?: string | null | undefined;
  vpc_id?: string | null | undefined;
  default?: boolean | null | undefined;
  routes: RouteEntry[];
};

export const RouteTableSummary = z.object({
  id: z.string(),
  name: z.string().nullish(),
  vpc_id: z.string().nullish(),
  default: z.boolean().nullish(),
});
export type RouteTableSummary = z.infer<typeof RouteTableSummary>;

export const ShowRouteTableBody = z.object({ routetable: RouteTable });
export const ListRouteTablesBody = z.object({ routetables: z.array(RouteTableSummary) });

/** VPC v1: {"code":"VPC.0002","message":"..."}. */
export const VpcErrorBody = z.object({ code: z.string(), message: z.string().optional() });
/** API gateway: {"error_code":"APIGW.0301","error_msg":"...","request_id":"..."}. */
export const GatewayErrorBody = z.object({ error_code: z.string(), error_msg: z.string().optional(), request_id: z.string().optional() });
/** Some services nest it: {"error":{"code","message"}}. */
export const NestedErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string().optional() }) });
