import { join } from "node:path";
import { Testing, TerraformStack } from "cdktf";
import { AsyncFailureDestination, AsyncFailureDestinationProps } from "../../modules/async-failure-destination";
import { BundledFunction } from "../../modules/bundled-function";

const HELLO = join(__dirname, "..", "fixtures", "handlers", "hello", "index.ts");
const TOPIC = { topicName: "shf-dev-alarms", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms" };

function synth(props: Partial<Omit<AsyncFailureDestinationProps, "functions">> = {}, functionIds: readonly string[] = ["hello"]) {
  const stack = new TerraformStack(Testing.app(), "test");
  const fns = functionIds.map((id) => new BundledFunction(stack, id, { entry: HELLO, functionName: `shf-dev-${id}`, logRetentionDays: 14 }));
  new AsyncFailureDestination(stack, "hello-async-failures", {
    functions: fns,
    queueName: "shf-dev-hello-async-failures",
    alarmName: "shf-dev-hello-async-failures",
    topic: TOPIC,
    ...props,
  });
  return JSON.parse(Testing.synth(stack)) as { resource: Record<string, Record<string, any>>; data: Record<string, Record<string, any>> };
}

const one = (tf: ReturnType<typeof synth>, type: string) => Object.values(tf.resource[type]!)[0]!;

describe("AsyncFailureDestination", () => {
  const tf = synth();

  test("keeps failed invocations in an encrypted queue for 14 days", () => {
    expect(one(tf, "aws_sqs_queue")).toMatchObject({ name: "shf-dev-hello-async-failures", sqs_managed_sse_enabled: true, message_retention_seconds: 1209600 });
  });

  test("sets Lambda's retries and event age explicitly and sends failures to the queue, after the role may send", () => {
    const config = one(tf, "aws_lambda_function_event_invoke_config");
    expect(config).toMatchObject({
      function_name: expect.stringMatching(/^\$\{aws_lambda_function\.hello_function_.+\.function_name\}$/),
      maximum_retry_attempts: 2,
      maximum_event_age_in_seconds: 3600,
      destination_config: { on_failure: { destination: expect.stringMatching(/^\$\{aws_sqs_queue\..+\.arn\}$/) } },
    });
    expect(config.depends_on).toEqual([expect.stringMatching(/^aws_iam_role_policy\.hello_grants_hello-async-failures-send/)]);
  });

  test("grants the function's role sqs:SendMessage on its own queue only", () => {
    const doc = Object.entries(tf.data.aws_iam_policy_document!).find(([name]) => name.includes("async-failures-send"))![1];
    expect(doc.statement).toEqual([
      expect.objectContaining({ actions: ["sqs:SendMessage"], resources: [expect.stringMatching(/^\$\{aws_sqs_queue\..+\.arn\}$/)] }),
    ]);
  });

  test("pages on the first message in the queue", () => {
    expect(one(tf, "aws_cloudwatch_metric_alarm")).toMatchObject({
      alarm_name: "shf-dev-hello-async-failures",
      namespace: "AWS/SQS",
      metric_name: "ApproximateNumberOfMessagesVisible",
      threshold: 1,
      comparison_operator: "GreaterThanOrEqualToThreshold",
      alarm_actions: [TOPIC.topicArn],
    });
  });

  test("GIVEN several functions THEN one queue and one alarm, and each function sends its failures there with its own grant", () => {
    const shared = synth({}, ["hello", "other"]);
    expect(Object.keys(shared.resource.aws_sqs_queue!)).toHaveLength(1);
    expect(Object.keys(shared.resource.aws_cloudwatch_metric_alarm!)).toHaveLength(1);
    const configs = Object.values(shared.resource.aws_lambda_function_event_invoke_config!);
    expect(configs.map((c) => c.function_name).sort()).toEqual([
      expect.stringMatching(/^\$\{aws_lambda_function\.hello_function_/),
      expect.stringMatching(/^\$\{aws_lambda_function\.other_function_/),
    ]);
    expect(new Set(configs.map((c) => c.destination_config.on_failure.destination)).size).toBe(1);
    for (const c of configs) expect(c.depends_on).toHaveLength(1);
    expect(configs.map((c) => c.depends_on[0]).sort()).toEqual([
      expect.stringMatching(/^aws_iam_role_policy\.hello_grants_hello-async-failures-send/),
      expect.stringMatching(/^aws_iam_role_policy\.other_grants_hello-async-failures-send/),
    ]);
  });

  test("GIVEN the alarm THEN its description says how to find the function and redrive", () => {
    expect(one(tf, "aws_cloudwatch_metric_alarm").alarm_description).toMatch(
      /requestContext\.functionArn.*npm run redrive -- --queue shf-dev-hello-async-failures/,
    );
  });

  test("fails when no function is given", () => {
    expect(() => synth({}, [])).toThrow(/functions is empty/);
  });

  test("fails when retries are outside Lambda's 0 to 2", () => {
    expect(() => synth({ maximumRetryAttempts: 3 })).toThrow(/maximumRetryAttempts must be 0, 1 or 2/);
  });

  test("fails when the event age is outside 60 to 21600 seconds", () => {
    expect(() => synth({ maximumEventAgeSeconds: 30 })).toThrow(/maximumEventAgeSeconds must be a whole number from 60 to 21600/);
  });
});
