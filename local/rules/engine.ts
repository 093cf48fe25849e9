/**
 * The twin's AWS IoT rules engine: every synthesized topic rule, compiled once; each message is matched
 * against every enabled rule's `FROM` filter and `WHERE`, and each matching rule runs all its actions
 * independently. A failed action runs the rule's error action with AWS's error payload
 * (`ruleName`, `topic`, `cloudwatchTraceId`, `clientId`, `base64OriginalPayload`, `failures[]`).
 *
 * ```ts
 * const engine = new RulesEngine({ rules: topicRules.rules, targets });   // throws on unsupported SQL or actions
 * await engine.dispatch("devices/SN-1/telemetry", payload);
 * await engine.dispatchToRule({ ruleName, topic: "devices/SN-1/telemetry", payload, clientId });  // Basic Ingest
 * engine.topicFilters;                                                    // what to subscribe to
 * ```
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { FAILED_ACTION_NAMES, actionResource, runAction, type RuleTargets } from "./actions";
import { parseIotSql, type IotSqlQuery, type SqlValue } from "./sql";
import type { RuleAction, SynthesizedTopicRule } from "./synthesized-rules";

/** The SQL version the engine implements. */
export const SUPPORTED_SQL_VERSION = "2016-03-23";

/** One construct of a rule the engine cannot run, readable. */
export interface UnsupportedConstruct {
  readonly rule: string;
  readonly problem: string;
}

/** Every construct of `rules` outside what the engine implements (SQL, SQL version, actions). */
export function unsupportedConstructs(rules: readonly SynthesizedTopicRule[]): UnsupportedConstruct[] {
  const problems: UnsupportedConstruct[] = [];
  for (const rule of rules) {
    if (rule.sqlVersion !== SUPPORTED_SQL_VERSION) problems.push({ rule: rule.name, problem: `sql_version ${rule.sqlVersion}` });
    try {
      parseIotSql(rule.sql);
    } catch (err) {
      problems.push({ rule: rule.name, problem: `SQL: ${err instanceof Error ? err.message : String(err)}` });
    }
    for (const action of [...rule.actions, ...(rule.errorAction ? [rule.errorAction] : [])]) {
      if (action.type === "unsupported") problems.push({ rule: rule.name, problem: `action ${action.action}` });
    }
  }
  return problems;
}

/** What happened to one message in one rule (emitted as `matched`). */
export interface RuleMatch {
  readonly rule: string;
  readonly topic: string;
  readonly output: SqlValue | Buffer;
}

/** A failed action (emitted as `action-failed`; `errorActionFailed` when the error action failed too). */
export interface ActionFailure {
  readonly rule: string;
  readonly topic: string;
  readonly action: RuleAction;
  readonly error: string;
  readonly errorActionFailed?: string;
}

/** A Basic Ingest message for a rule that does not exist or is disabled (emitted as `dropped`). */
export interface DroppedMessage {
  readonly rule: string;
  readonly topic: string;
  readonly reason: "no such rule" | "rule disabled";
}

/** The events of {@link RulesEngine} and their listener arguments. */
export interface RulesEngineEvents {
  matched: [match: RuleMatch];
  dropped: [message: DroppedMessage];
  "action-failed": [failure: ActionFailure];
}

export interface RulesEngineOptions {
  readonly rules: readonly SynthesizedTopicRule[];
  readonly targets: RuleTargets;
  /** Arrival clock for `timestamp()`. @default Date.now */
  readonly now?: () => number;
}

interface CompiledRule {
  readonly rule: SynthesizedTopicRule;
  readonly query: IotSqlQuery;
}

export class RulesEngine extends EventEmitter<RulesEngineEvents> {
  private readonly compiled: CompiledRule[];
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: RulesEngineOptions) {
    super();
    const problems = unsupportedConstructs(options.rules);
    if (problems.length > 0) {
      throw new Error(`the twin cannot run these topic rules:\n${problems.map((p) => `  ${p.rule}: ${p.problem}`).join("\n")}`);
    }
    this.compiled = options.rules.filter((r) => r.enabled).map((rule) => ({ rule, query: parseIotSql(rule.sql) }));
  }

  /** The distinct `FROM` filters of the enabled rules. */
  get topicFilters(): string[] {
    return [...new Set(this.compiled.map((c) => c.query.topicFilter))];
  }

  /** Names of the enabled rules. */
  get ruleNames(): string[] {
    return this.compiled.map((c) => c.rule.name);
  }

  /** Run every matching rule on one message; resolves when their actions are done (not the async invocations). */
  dispatch(topic: string, payload: Buffer, meta: { clientId?: string } = {}): Promise<void> {
    return this.runRules(this.compiled, { topic, payload, clientId: meta.clientId }, false);
  }

  /**
   * A Basic Ingest message: only the named rule runs, FROM not matched, WHERE applied, `topic()` of the
   * topic without `$aws/rules/<rule>/` (local/iot-core/basic-ingest.ts). An unknown or disabled rule drops it.
   */
  dispatchToRule(message: { readonly ruleName: string; readonly topic: string; readonly payload: Buffer; readonly clientId?: string }): Promise<void> {
    const target = this.compiled.filter((c) => c.rule.name === message.ruleName);
    if (target.length === 0) {
      const reason = this.options.rules.some((r) => r.name === message.ruleName) ? "rule disabled" : "no such rule";
      this.emit("dropped", { rule: message.ruleName, topic: message.topic, reason } satisfies DroppedMessage);
      return Promise.resolve();
    }
    return this.runRules(target, message, true);
  }

  private runRules(rules: readonly CompiledRule[], message: { topic: string; payload: Buffer; clientId?: string }, basicIngest: boolean): Promise<void> {
    const { topic, payload, clientId } = message;
    const timestamp = (this.options.now ?? Date.now)();
    const runs: Promise<void>[] = [];
    for (const { rule, query } of rules) {
      const output = query.evaluate({ topic, payload, timestamp }, { basicIngest });
      if (output === undefined) continue;
      this.emit("matched", { rule: rule.name, topic, output } satisfies RuleMatch);
      for (const action of rule.actions) runs.push(this.run(rule, action, output, { topic, payload, timestamp, clientId }));
    }
    const all = Promise.all(runs).then(() => undefined);
    this.pending.add(all);
    void all.finally(() => this.pending.delete(all));
    return all;
  }

  /** Resolve when no dispatched message is still running actions. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private async run(
    rule: SynthesizedTopicRule,
    action: RuleAction,
    output: SqlValue | Buffer,
    message: { topic: string; payload: Buffer; timestamp: number; clientId?: string },
  ): Promise<void> {
    try {
      await runAction(action, output, this.options.targets, message.timestamp);
      return;
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      let errorActionFailed: string | undefined;
      if (rule.errorAction) {
        const errorPayload = {
          ruleName: rule.name,
          topic: message.topic,
          cloudwatchTraceId: randomUUID(),
          clientId: message.clientId ?? "",
          base64OriginalPayload: message.payload.toString("base64"),
          failures: [
            {
              failedAction: action.type === "unsupported" ? action.action : FAILED_ACTION_NAMES[action.type],
              failedResource: actionResource(action),
              errorMessage: error,
            },
          ],
        };
        try {
          await runAction(rule.errorAction, errorPayload, this.options.targets, message.timestamp);
        } catch (inner) {
          errorActionFailed = inner instanceof Error ? inner.message : String(inner);
        }
      }
      this.emit("action-failed", { rule: rule.name, topic: message.topic, action, error, errorActionFailed } satisfies ActionFailure);
    }
  }
}
