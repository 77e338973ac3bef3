// containerd's config.toml, as far as mirrornet reads it (1.x `version = 2` and 2.x `version = 3`).
import { z } from 'zod';

const Registry = z.looseObject({ config_path: z.string().optional(), mirrors: z.record(z.string(), z.unknown()).optional() });

export const ContainerdConfig = z.looseObject({
  version: z.number().optional(),
  plugins: z
    .looseObject({
      'io.containerd.grpc.v1.cri': z.looseObject({ registry: Registry.optional() }).optional(),
      'io.containerd.cri.v1.images': z.looseObject({ registry: Registry.optional() }).optional(),
    })
    .optional(),
});
export type ContainerdConfig = z.infer<typeof ContainerdConfig>;
