/**
 * No lost alerts: every asynchronous Lambda invocation the synthesized app sets up (IoT rule Lambda
 * actions, EventBridge targets, SNS and S3 notifications, EventBridge Scheduler) reaches a function
 * with an on-failure destination (an encrypted SQS queue), explicit retries and an alarm on the queue.
 * Walks every stack of the whole app, so a new trigger in any stack is covered the moment it exists.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { synthOfflineApp } from "./support/offline-app";

type Body = Record<string, unknown>;
type Block = Record<string, Record<string, Body>>;
interface StackJson {
  resource?: Block;
}

/** Services that invoke Lambda with InvocationType Event (AWS: "Invoking Lambda with events from other AWS services"). */
const ASYNC_PRINCIPALS = new Set([
  "iot.amazonaws.com",
  "events.amazonaws.com",
  "sns.amazonaws.com",
  "s3.amazonaws.com",
  "scheduler.amazonaws.com",
  "logs.amazonaws.com",
]);
/** Synchronous callers: API Gateway, and the provisioning template's pre-provisioning hook (IoT waits for its answer). */
const SYNC_PRINCIPALS = new Set(["apigateway.amazonaws.com"]);

interface AsyncTrigger {
  readonly where: string;
  readonly functionName: string;
}

function load(envName: string): [string, StackJson][] {
  const { outdir, stacks } = synthOfflineApp(envName);
  return stacks.map((id) => [id, JSON.parse(readFileSync(join(outdir, "stacks", id, "cdk.tf.json"), "utf8")) as StackJson]);
}

/** A function name from a literal name or ARN, or from a reference to a function of the same stack. */
function functionNameOf(stack: StackJson, value: unknown, where: string): string {
  const text = String(value);
  const ref = /^\$\{aws_lambda_function\.([^.]+)\.(?:arn|function_name|invoke_arn)\}$/.exec(text);
  if (ref) {
    const fn = stack.resource?.aws_lambda_function?.[ref[1]!];
    if (!fn) throw new Error(`${where}: references missing function ${ref[1]}`);
    return String(fn.function_name);
  }
  const arn = /^arn:aws:lambda:[^:]+:\d{12}:function:([A-Za-z0-9_-]+)$/.exec(text);
  if (arn) return arn[1]!;
  if (/^[A-Za-z0-9_-]+$/.test(text)) return text;
  throw new Error(`${where}: cannot tell which function ${text} is`);
}

function entries(stack: StackJson, type: string): [string, Body][] {
  return Object.entries(stack.resource?.[type] ?? {});
}

const list = (value: unknown): Body[] => (Array.isArray(value) ? (value as Body[]) : value ? [value as Body] : []);

export function asyncTriggers(stacks: [string, StackJson][]): AsyncTrigger[] {
  const found: AsyncTrigger[] = [];
  for (const [id, tf] of stacks) {
    for (const [name, rule] of entries(tf, "aws_iot_topic_rule")) {
      for (const action of list(rule.lambda))
        found.push({ where: `${id}/${name} (IoT rule)`, functionName: functionNameOf(tf, action.function_arn, `${id}/${name}`) });
      for (const action of list(rule.error_action).flatMap((e) => list(e.lambda))) {
        found.push({ where: `${id}/${name} (IoT rule error action)`, functionName: functionNameOf(tf, action.function_arn, `${id}/${name}`) });
      }
    }
    for (const [name, target] of entries(tf, "aws_cloudwatch_event_target")) {
      if (String(target.arn).includes("lambda"))
        found.push({ where: `${id}/${name} (EventBridge)`, functionName: functionNameOf(tf, target.arn, `${id}/${name}`) });
    }
    for (const [name, sub] of entries(tf, "aws_sns_topic_subscription")) {
      if (sub.protocol === "lambda") found.push({ where: `${id}/${name} (SNS)`, functionName: functionNameOf(tf, sub.endpoint, `${id}/${name}`) });
    }
    for (const [name, n] of entries(tf, "aws_s3_bucket_notification")) {
      for (const fn of list(n.lambda_function))
        found.push({ where: `${id}/${name} (S3)`, functionName: functionNameOf(tf, fn.lambda_function_arn, `${id}/${name}`) });
    }
    for (const [name, s] of entries(tf, "aws_scheduler_schedule")) {
      for (const t of list(s.target)) {
        if (String(t.arn).includes("lambda")) found.push({ where: `${id}/${name} (Scheduler)`, functionName: functionNameOf(tf, t.arn, `${id}/${name}`) });
      }
    }
  }
  return found;
}

interface Protection {
  readonly retries: unknown;
  readonly queue?: Body;
  readonly alarmed: boolean;
}

/** Per function name: its async invoke config's retries, the on-failure queue and whether an alarm watches that queue. */
export function protections(stacks: [string, StackJson][]): Map<string, Protection> {
  const result = new Map<string, Protection>();
  for (const [id, tf] of stacks) {
    const alarmedQueues = new Set(
      entries(tf, "aws_cloudwatch_metric_alarm")
        .filter(
          ([, a]) =>
            a.namespace === "AWS/SQS" && a.metric_name === "ApproximateNumberOfMessagesVisible" && Array.isArray(a.alarm_actions) && a.alarm_actions.length > 0,
        )
        .map(([, a]) => String((a.dimensions as Body | undefined)?.QueueName)),
    );
    for (const [name, config] of entries(tf, "aws_lambda_function_event_invoke_config")) {
      const destination = String(((config.destination_config as Body | undefined)?.on_failure as Body | undefined)?.destination ?? "");
      const queueRef = /^\$\{aws_sqs_queue\.([^.]+)\.arn\}$/.exec(destination);
      const queue = queueRef ? tf.resource?.aws_sqs_queue?.[queueRef[1]!] : undefined;
      result.set(functionNameOf(tf, config.function_name, `${id}/${name}`), {
        retries: config.maximum_retry_attempts,
        queue,
        alarmed: queueRef !== null && alarmedQueues.has(`\${aws_sqs_queue.${queueRef[1]}.name}`),
      });
    }
  }
  return result;
}

describe.each(["dev", "prod"])("GIVEN the whole app synthesized for %s", (envName) => {
  const stacks = load(envName);
  const triggers = asyncTriggers(stacks);
  const protectedFunctions = protections(stacks);

  test("THEN the walk finds the known asynchronous triggers (rules, schedules)", () => {
    const where = triggers.map((t) => t.where).join("\n");
    expect(where).toMatch(/iot\/device-errors-rule \(IoT rule\)/);
    expect(where).toMatch(/iot\/lifecycle-events-rule \(IoT rule\)/);
    expect(where).toMatch(/iot\/offline-sweep-schedule-target \(EventBridge\)/);
    // The telemetry rule has no Lambda action any more: the hot table's stream drives the broadcaster
    // (synchronously); the telemetry stack's one asynchronous trigger is the rollup job's schedule.
    expect(where.split("\n").filter((line) => line.startsWith("telemetry/"))).toEqual(["telemetry/telemetry-rollup-schedule-target (EventBridge)"]);
  });

  test("THEN every asynchronously invoked function has an encrypted on-failure queue, explicit retries and an alarm on the queue", () => {
    const missing = triggers
      .filter((t) => {
        const p = protectedFunctions.get(t.functionName);
        return !p || typeof p.retries !== "number" || !p.queue || p.queue.sqs_managed_sse_enabled !== true || !p.alarmed;
      })
      .map((t) => `${t.where} -> ${t.functionName}`);
    expect(missing).toEqual([]);
  });

  test("THEN every SQS queue of the app (dead letters, async failures) is encrypted and pages when it is not empty", () => {
    const unwatched = stacks.flatMap(([id, tf]) => {
      const alarmed = new Set(
        entries(tf, "aws_cloudwatch_metric_alarm")
          .filter(
            ([, a]) =>
              a.namespace === "AWS/SQS" &&
              a.metric_name === "ApproximateNumberOfMessagesVisible" &&
              a.threshold === 1 &&
              a.comparison_operator === "GreaterThanOrEqualToThreshold",
          )
          .map(([, a]) => String((a.dimensions as Body | undefined)?.QueueName)),
      );
      return entries(tf, "aws_sqs_queue")
        .filter(([name, q]) => q.sqs_managed_sse_enabled !== true || !alarmed.has(`\${aws_sqs_queue.${name}.name}`))
        .map(([name]) => `${id}/${name}`);
    });
    expect(unwatched).toEqual([]);
  });

  test("THEN every Lambda permission's caller is known to be synchronous or asynchronous (a new service is classified here first)", () => {
    const unknown = stacks.flatMap(([id, tf]) =>
      entries(tf, "aws_lambda_permission")
        .map(([name, p]) => [`${id}/${name}`, String(p.principal), String(p.source_arn ?? "")] as const)
        // The provisioning template's pre-provisioning hook is a synchronous call from IoT.
        .filter(([, principal, source]) => !SYNC_PRINCIPALS.has(principal) && !ASYNC_PRINCIPALS.has(principal) && !source.includes(":provisioningtemplate/"))
        .map(([where, principal]) => `${where}: ${principal}`),
    );
    expect(unknown).toEqual([]);
  });

  test("THEN every asynchronous caller's permission belongs to a trigger the walk covers", () => {
    const covered = new Set(triggers.map((t) => t.functionName));
    const uncovered = stacks.flatMap(([id, tf]) =>
      entries(tf, "aws_lambda_permission")
        .filter(([, p]) => ASYNC_PRINCIPALS.has(String(p.principal)) && !String(p.source_arn ?? "").includes(":provisioningtemplate/"))
        .map(([name, p]) => [`${id}/${name}`, functionNameOf(tf, p.function_name, `${id}/${name}`)] as const)
        .filter(([, fn]) => !covered.has(fn))
        .map(([where, fn]) => `${where} -> ${fn}`),
    );
    expect(uncovered).toEqual([]);
  });
});

describe("the walk itself", () => {
  const fn = { aws_lambda_function: { f: { function_name: "shf-dev-f" } } };

  test("fails when an IoT rule invokes a function that has no on-failure destination", () => {
    const stacks: [string, StackJson][] = [
      ["x", { resource: { ...fn, aws_iot_topic_rule: { r: { lambda: [{ function_arn: "${aws_lambda_function.f.arn}" }] } } } }],
    ];
    const p = protections(stacks);
    expect(asyncTriggers(stacks).filter((t) => !p.get(t.functionName))).toEqual([{ where: "x/r (IoT rule)", functionName: "shf-dev-f" }]);
  });

  test("fails when the queue has no alarm", () => {
    const stacks: [string, StackJson][] = [
      [
        "x",
        {
          resource: {
            ...fn,
            aws_sqs_queue: { q: { name: "shf-dev-f-async-failures", sqs_managed_sse_enabled: true } },
            aws_lambda_function_event_invoke_config: {
              c: {
                function_name: "${aws_lambda_function.f.function_name}",
                maximum_retry_attempts: 2,
                destination_config: { on_failure: { destination: "${aws_sqs_queue.q.arn}" } },
              },
            },
          },
        },
      ],
    ];
    expect(protections(stacks).get("shf-dev-f")).toMatchObject({ retries: 2, alarmed: false });
  });
});
