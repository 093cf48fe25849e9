/**
 * Runs `work` with an AbortSignal and gives up after `ms`: the signal is aborted (so in-flight SDK
 * calls stop) and `onTimeout()` is the result. The timer is always cleared, nothing outlives the call.
 */
export async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>, onTimeout: () => T): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(
      () => {
        controller.abort();
        resolve(onTimeout());
      },
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
