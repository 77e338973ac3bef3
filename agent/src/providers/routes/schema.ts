// `ip -j route show` output, as far as mirrornet reads it.
import { z } from 'zod';

export const IpRoute = z.looseObject({
  dst: z.string(),
  dev: z.string().optional(),
  gateway: z.string().optional(),
  protocol: z.union([z.string(), z.number()]).optional(),
  scope: z.string().optional(),
  type: z.string().optional(),
});

export const IpRoutes = z.array(IpRoute);
export type IpRoute = z.infer<typeof IpRoute>;
