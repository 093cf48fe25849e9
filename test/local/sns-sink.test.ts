/**
 * The local SNS sink speaks the SNS query API well enough for the REAL SDK client (the one the functions
 * use) to publish unchanged, and records what it receives.
 */
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { FAKE_AWS_ENV } from "../../local/dynamo";
import { SnsMessage, SnsSink, formatSnsMessage, publishResponseXml } from "../../local/sns-sink";

const TOPIC = "arn:aws:sns:eu-west-1:111111111111:shf-dev-alerts";

describe("SnsSink", () => {
  let sink: SnsSink;
  let sns: SNSClient;

  beforeAll(async () => {
    sink = await SnsSink.start({ topicArns: [TOPIC] });
    sns = new SNSClient({
      endpoint: sink.endpoint,
      region: FAKE_AWS_ENV.AWS_REGION,
      credentials: { accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID!, secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY! },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    sns?.destroy();
    await sink?.close();
  });

  it("GIVEN the real SNS client WHEN it publishes THEN it gets the recorded message's id and the sink keeps subject and body", async () => {
    const published: SnsMessage[] = [];
    sink.on("publish", (m) => published.push(m));

    const result = await sns.send(new PublishCommand({ TopicArn: TOPIC, Subject: "[dev] Device abcd1234 is offline", Message: 'line 1\nline <2> & "3"' }));

    expect(result.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.$metadata.httpStatusCode).toBe(200);
    const recorded = sink.messages.find((m) => m.messageId === result.MessageId);
    expect(recorded).toMatchObject({ topicArn: TOPIC, subject: "[dev] Device abcd1234 is offline", message: 'line 1\nline <2> & "3"' });
    expect(published.map((m) => m.messageId)).toContain(result.MessageId);
  });

  it("fails with NotFound WHEN the topic does not exist", async () => {
    await expect(sns.send(new PublishCommand({ TopicArn: `${TOPIC}-other`, Message: "x" }))).rejects.toMatchObject({
      name: "NotFoundException", // the SDK maps the NotFound code to its modeled exception
      $metadata: { httpStatusCode: 404 },
    });
  });

  it("fails with InvalidParameter WHEN the message is empty or the subject is not one line of ASCII", async () => {
    await expect(sns.send(new PublishCommand({ TopicArn: TOPIC, Message: "" }))).rejects.toMatchObject({ name: "InvalidParameterException" });
    await expect(sns.send(new PublishCommand({ TopicArn: TOPIC, Subject: "caf\u00e9", Message: "x" }))).rejects.toMatchObject({
      name: "InvalidParameterException",
    });
  });

  it("fails with InvalidAction WHEN another action is called", async () => {
    const res = await fetch(sink.endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "Action=CreateTopic&Name=x&Version=2010-03-31",
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("<Code>InvalidAction</Code>");
  });

  it("GIVEN a message id and request id THEN the Publish answer is SNS's XML", () => {
    expect(publishResponseXml("m-1", "r-1")).toBe(
      [
        '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">',
        "  <PublishResult>",
        "    <MessageId>m-1</MessageId>",
        "  </PublishResult>",
        "  <ResponseMetadata>",
        "    <RequestId>r-1</RequestId>",
        "  </ResponseMetadata>",
        "</PublishResponse>",
        "",
      ].join("\n"),
    );
  });

  it("GIVEN a message THEN the console form is the subject and the indented body", () => {
    expect(formatSnsMessage({ messageId: "m", topicArn: TOPIC, subject: "S", message: "a\nb", receivedAt: 0 })).toBe("S\n      a\n      b");
  });
});
