/**
 * Structured JSON logging: one JSON object per line on stdout, so CloudWatch Logs Insights can query
 * every field. `LOG_LEVEL` (debug | info | warn | error | silent, default info) filters lines.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. the request id of one invocation). */
  child(fields: LogFields): Logger;
}

const LEVEL_RANK: Record<LogLevel | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => {
  process.stdout.write(`${line}\n`);
};

/** Parses `LOG_LEVEL`; an unknown value falls back to `info` rather than hiding logs. */
export function parseLogLevel(value: string | undefined): LogLevel | "silent" {
  const normalised = (value ?? "").trim().toLowerCase();
  return normalised in LEVEL_RANK ? (normalised as LogLevel | "silent") : "info";
}

/** Never throws: a value JSON cannot encode (BigInt, cycles) is replaced rather than losing the line. */
export function safeStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Error) return { name: v.name, message: v.message };
      if (typeof v === "object" && v !== null) {
        if (seen.has(v)) return "[circular]";
        seen.add(v);
      }
      return v;
    });
  } catch {
    return JSON.stringify({ level: "error", message: "log line could not be serialised" });
  }
}

export function createLogger(base: LogFields, options: { level?: LogLevel | "silent"; sink?: LogSink } = {}): Logger {
  const minRank = LEVEL_RANK[options.level ?? parseLogLevel(process.env.LOG_LEVEL)];
  const sink = options.sink ?? stdoutSink;
  const write = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (LEVEL_RANK[level] < minRank) return;
    try {
      sink(safeStringify({ timestamp: new Date().toISOString(), level, message, ...base, ...fields }));
    } catch {
      // Logging must never take a handler down.
    }
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, { level: options.level, sink }),
  };
}

/** The loggable part of an unknown thrown value. */
export function errorFields(error: unknown): LogFields {
  if (error instanceof Error) {
    return { errorName: error.name, errorMessage: error.message.slice(0, 500) };
  }
  return { errorName: typeof error, errorMessage: String(error).slice(0, 500) };
}
