// A provider loaded on first use (its SDK or client library is imported only when a host needs it).
// read always runs before diff and apply, so the loaded provider is there when they are called.
import type { Desired } from '../desired/types.js';
import type { Provider, ProviderId } from './types.js';

export function lazyProvider(id: ProviderId, wants: (desired: Desired) => boolean, load: () => Promise<Provider<unknown>>): Provider<unknown> {
  let loading: Promise<Provider<unknown>> | undefined;
  let loaded: Provider<unknown> | undefined;
  const get = async () => (loaded ??= await (loading ??= load()));
  const ready = (): Provider<unknown> => {
    if (!loaded) throw new Error(`provider ${id} used before it was read`);
    return loaded;
  };
  return {
    id,
    wants,
    async read(ctx, desired) {
      return (await get()).read(ctx, desired);
    },
    diff(desired, actual, owned) {
      return ready().diff(desired, actual, owned);
    },
    async apply(ctx, changes, desired, actual) {
      return (await get()).apply(ctx, changes, desired, actual);
    },
  };
}
