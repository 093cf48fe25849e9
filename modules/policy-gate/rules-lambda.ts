/** Rules for Lambda functions: runtime, who may invoke them, environment, failed async events. */
import { equivalents, finding, Rule } from "./rule";
import { Element, StackView, namesFunction } from "./stack-view";

type Body = Record<string, unknown>;

/**
 * Runtimes AWS supports for new functions and updates (Lambda runtimes page, checked 2026-11):
 * nodejs20.x reached end of support on 2026-04-30, python3.9 on 2025-12-15 (python3.10 left out: its end falls in 2026). Extend when AWS adds one.
 */
export const SUPPORTED_RUNTIMES: readonly string[] = [
  "nodejs22.x",
  "nodejs24.x",
  "python3.11",
  "python3.12",
  "python3.13",
  "python3.14",
  "java8.al2",
  "java11",
  "java17",
  "java21",
  "java25",
  "dotnet8",
  "dotnet10",
  "ruby3.3",
  "ruby3.4",
  "provided.al2",
  "provided.al2023",
];

const SECRET_NAME = /(SECRET|PASSWORD|PASSWD|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|TOKEN|CREDENTIAL)/i;
/** Values that point at a secret instead of holding one. */
const POINTER = /^(arn:aws[a-z-]*:|\$\{|\/|[A-Za-z0-9_-]+\/[A-Za-z0-9/_+=.@-]+$)/;

function secretInEnvironment(name: string, value: string): string | undefined {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) return `${name} holds a PEM private key`;
  if (/\b(AKIA|ASIA)[0-9A-Z]{16}\b/.test(value)) return `${name} holds an AWS access key id`;
  if (SECRET_NAME.test(name) && !/_(ARN|NAME|ID|PARAMETER|SECONDS|TTL)$/i.test(name) && value !== "" && !POINTER.test(value))
    return `${name} looks like a secret given as a literal value`;
  return undefined;
}

const asArray = (v: unknown): Body[] => (Array.isArray(v) ? (v as Body[]) : v ? [v as Body] : []);

/** Who invokes a function asynchronously (AWS retries twice, then drops the event unless told where to put it). */
function asyncInvokers(view: StackView, fn: Element): string[] {
  const found: string[] = [];
  for (const other of view.app()) {
    for (const rule of other.resources("aws_iot_topic_rule")) {
      const lambdas = [...asArray(rule.body.lambda), ...asArray((rule.body.error_action as Body | undefined)?.lambda)];
      if (lambdas.some((l) => namesFunction(l.function_arn, fn))) found.push(`${other.stack} ${rule.address}`);
    }
    for (const target of other.resources("aws_cloudwatch_event_target")) if (namesFunction(target.body.arn, fn)) found.push(`${other.stack} ${target.address}`);
    for (const schedule of other.resources("aws_scheduler_schedule"))
      if (namesFunction((schedule.body.target as Body | undefined)?.arn, fn)) found.push(`${other.stack} ${schedule.address}`);
    for (const sub of other.resources("aws_sns_topic_subscription"))
      if (sub.body.protocol === "lambda" && namesFunction(sub.body.endpoint, fn)) found.push(`${other.stack} ${sub.address}`);
    for (const n of other.resources("aws_s3_bucket_notification")) {
      if (((n.body.lambda_function as Body[] | undefined) ?? []).some((l) => namesFunction(l.lambda_function_arn, fn)))
        found.push(`${other.stack} ${n.address}`);
    }
  }
  return found;
}

function hasOnFailure(view: StackView, fn: Element): boolean {
  if ((fn.body.dead_letter_config as Body | undefined)?.target_arn) return true;
  return view
    .app()
    .flatMap((v) => v.resources("aws_lambda_function_event_invoke_config"))
    .some(
      (c) => namesFunction(c.body.function_name, fn) && Boolean(((c.body.destination_config as Body | undefined)?.on_failure as Body | undefined)?.destination),
    );
}

export const lambdaRules: Rule[] = [
  {
    id: "LAMBDA-SUPPORTED-RUNTIME",
    family: "Lambda",
    title: "Every function uses a runtime AWS still supports",
    why: "a deprecated runtime gets no security patches and soon cannot be updated at all",
    fix: "move the function to a runtime in SUPPORTED_RUNTIMES (the app's contract uses nodejs22.x)",
    equivalents: equivalents({ checkov: "CKV_AWS_363", cdkNag: "AwsSolutions-L1" }),
    check: (view) =>
      view
        .resources("aws_lambda_function")
        .filter((f) => f.body.package_type !== "Image" && !SUPPORTED_RUNTIMES.includes(String(f.body.runtime)))
        .map((f) => finding(f, `runtime ${String(f.body.runtime)} is not supported`)),
  },
  {
    id: "LAMBDA-PERMISSION-SCOPED",
    family: "Lambda",
    title: "Every invoke permission names the source ARN, and the source account for AWS services",
    why: "a service principal without a source ARN lets any resource of that service, in any account, invoke the function (confused deputy)",
    fix: "set source_arn to the rule, API or template that invokes it, and source_account to the account",
    equivalents: equivalents({ checkov: "CKV_AWS_364", trivy: "AVD-AWS-0067" }),
    check: (view) =>
      view.resources("aws_lambda_permission").flatMap((p) => {
        const principal = String(p.body.principal);
        if (principal === "*") return [finding(p, "principal is * (anyone)")];
        if (typeof p.body.source_arn !== "string" || p.body.source_arn === "") return [finding(p, `principal ${principal} has no source_arn`)];
        if (principal.endsWith(".amazonaws.com") && typeof p.body.source_account !== "string")
          return [finding(p, `service principal ${principal} has no source_account`)];
        return [];
      }),
  },
  {
    id: "LAMBDA-NO-SECRETS-IN-ENV",
    family: "Lambda",
    title: "No secret values in function environment variables",
    why: "environment variables are stored in Terraform state, shown in plans and readable by anyone with lambda:GetFunctionConfiguration",
    fix: "keep the secret in Secrets Manager and pass its ARN or name; the function reads it at run time",
    equivalents: equivalents({ checkov: "CKV_AWS_45" }),
    check: (view) =>
      view.resources("aws_lambda_function").flatMap((f) =>
        Object.entries(((f.body.environment as Body | undefined)?.variables as Record<string, unknown> | undefined) ?? {}).flatMap(([name, value]) => {
          const problem = secretInEnvironment(name, String(value));
          return problem ? [finding(f, problem)] : [];
        }),
      ),
  },
  {
    id: "LAMBDA-ASYNC-ON-FAILURE",
    family: "Lambda",
    title: "Every function invoked asynchronously (IoT rule, EventBridge, SNS, S3) has an on-failure destination",
    why: "after its retries Lambda drops a failed asynchronous event silently: a device error alert or an offline event would vanish",
    fix: "add aws_lambda_function_event_invoke_config with destination_config.on_failure (an SQS queue with an alarm), or a dead_letter_config",
    equivalents: equivalents({ checkov: "CKV_AWS_116" }),
    check: (view) =>
      view.resources("aws_lambda_function").flatMap((fn) => {
        const invokers = asyncInvokers(view, fn);
        return invokers.length && !hasOnFailure(view, fn)
          ? [finding(fn, `it is invoked asynchronously by ${invokers.join(", ")} and has no on-failure destination`)]
          : [];
      }),
  },
  {
    id: "LAMBDA-STREAM-ON-FAILURE",
    family: "Lambda",
    title: "Every stream event source mapping has an on-failure destination and bounded retries",
    why: "a poison record otherwise blocks its shard until it expires, and then is lost",
    fix: "set destination_config.on_failure, maximum_retry_attempts and bisect_batch_on_function_error (StreamConsumer does)",
    equivalents: equivalents({ checkov: "none" }),
    check: (view) =>
      view
        .resources("aws_lambda_event_source_mapping")
        .filter((m) => typeof m.body.starting_position === "string")
        .flatMap((m) => {
          const destination = ((m.body.destination_config as Body | undefined)?.on_failure as Body | undefined)?.destination_arn;
          const retries = m.body.maximum_retry_attempts;
          if (!destination) return [finding(m, "it has no on-failure destination")];
          if (typeof retries !== "number" || retries < 0) return [finding(m, "maximum_retry_attempts is unbounded")];
          return [];
        }),
  },
];
