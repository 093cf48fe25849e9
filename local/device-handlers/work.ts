/**
 * A command handler module for the simulated Pis (loaded through the device client's documented
 * `handlerModules` / `--handler-module` mechanism, see device/commands.ts).
 *
 * `work` `{maxMs?: number}` sleeps a random 0..maxMs (default 1500, at most 10000) milliseconds and
 * answers `{workedMs}`. The chaos scenario uses it so that some results are produced while the broker
 * is down and must wait in the device's outbox.
 */
import type { CommandRegistry } from "../../device/commands";

export function register(registry: CommandRegistry): void {
  registry.register(
    "work",
    async (params, ctx) => {
      const maxMs = typeof params.maxMs === "number" && params.maxMs >= 0 ? Math.min(params.maxMs, 10_000) : 1500;
      const workedMs = Math.floor(Math.random() * maxMs);
      const interrupted = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), workedMs);
        ctx.signal.addEventListener(
          "abort",
          () => {
            clearTimeout(timer);
            resolve(true);
          },
          { once: true },
        );
      });
      return interrupted ? { workedMs, interrupted } : { workedMs };
    },
    { description: "Simulated work: a random 0-1.5 s delay (local twin)" },
  );
}
