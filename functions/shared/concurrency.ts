/**
 * Bounded parallelism for handlers: `work` runs on the items in order, at most `limit` at once.
 *
 * After a failure no new item starts; once the ones in flight have finished, the first error is thrown
 * (so nothing keeps calling AWS after the handler has answered). With `until`, no new item starts once
 * it returns true (e.g. the invocation's deadline came). Resolves to true when every item ran.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
  until: () => boolean = () => false,
): Promise<boolean> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  const worker = async () => {
    while (next < items.length && !failure) {
      if (until()) {
        stopped = true;
        return;
      }
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure) throw failure.error;
  return !stopped;
}
