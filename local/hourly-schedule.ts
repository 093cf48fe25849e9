/**
 * An EventBridge `cron(<minute> * * * ? *)` schedule for the twin: `run` at that minute of every hour
 * (UTC, like EventBridge), until stopped. Timers are unref'd: they never keep the twin's process alive.
 */
export interface HourlySchedule {
  stop(): void;
}

/** The minute of an hourly cron expression (`cron(7 * * * ? *)` -> 7); throws for any other shape. */
export function minuteOfHourlyCron(expression: string): number {
  const match = /^cron\((\d{1,2}) \* \* \* \? \*\)$/.exec(expression);
  if (!match || Number(match[1]) > 59) throw new Error(`"${expression}" is not an hourly cron(<minute> * * * ? *) expression`);
  return Number(match[1]);
}

/** Milliseconds from `now` to the next `minute` past an hour (never 0: a run at that instant waits an hour). */
export function msUntilMinute(now: number, minute: number): number {
  const hour = 3_600_000;
  const offset = minute * 60_000;
  const next = Math.floor((now - offset) / hour) * hour + hour + offset;
  return next - now;
}

export function scheduleHourly(expression: string, run: () => Promise<unknown>, now: () => number = Date.now): HourlySchedule {
  const minute = minuteOfHourlyCron(expression);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        void run()
          .catch(() => undefined)
          .finally(arm);
      },
      msUntilMinute(now(), minute),
    );
    timer.unref();
  };
  arm();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
