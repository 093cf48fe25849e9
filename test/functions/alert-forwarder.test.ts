/**
 * The alert forwarder against a real local HTTPS receiver (node https, certificate from a CA made in
 * the test, verified by the forwarder: the test passes the CA, verification is never turned off) and
 * dynalite for the delivery markers.
 */
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { mockClient } from "aws-sdk-client-mock";
import { LocalCa } from "../../local/pki";
import { forwardAlert, type ForwardDeps } from "../../functions/alert-forwarder/forward";
import { channelsSetting, parseChannels, type ChannelSpec } from "../../functions/alert-forwarder/contract";
import { documentClient, loadWith } from "./helpers";
import { startDynalite, type RunningDynalite } from "../support/dynalite";

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** An HTTPS receiver on 127.0.0.1 that records requests and answers as `respond` says. */
class Receiver {
  readonly requests: Received[] = [];
  respond: (req: Received) => { status: number; body?: string } | "hang" = () => ({ status: 200, body: "ok" });
  private server!: https.Server;
  private readonly hanging = new Set<import("node:http").ServerResponse>();

  async start(ca: LocalCa): Promise<void> {
    const cert = await ca.issueServerCertificate("receiver", { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
    this.server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const received = { path: req.url ?? "", headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown> };
        this.requests.push(received);
        const answer = this.respond(received);
        if (answer === "hang") {
          this.hanging.add(res);
          return;
        }
        res.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.body ?? "");
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  url(path: string): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const SLACK: ChannelSpec = { kind: "slack", name: "ops", secretId: "shf-test/alert-channels/ops" };
const HOOK: ChannelSpec = { kind: "webhook", name: "pager", secretId: "shf-test/alert-channels/pager" };

let ca: LocalCa;
let receiver: Receiver;
let db: RunningDynalite;
let secretValues: Record<string, string>;
let messageCounter = 0;

beforeAll(async () => {
  ca = await LocalCa.create({ commonName: "alert receiver test CA" });
  receiver = new Receiver();
  await receiver.start(ca);
  db = await startDynalite();
});
afterAll(async () => {
  await receiver?.stop();
  await db?.stop();
});
beforeEach(() => {
  receiver.requests.length = 0;
  receiver.respond = () => ({ status: 200, body: "ok" });
  secretValues = {
    [SLACK.secretId]: receiver.url("/services/T000/B000/slack-token"),
    [HOOK.secretId]: JSON.stringify({ url: receiver.url("/hooks/alerts"), authorization: "Bearer hook-token" }),
  };
});

function deps(overrides: Partial<ForwardDeps> = {}): ForwardDeps {
  return {
    ddb: documentClient(db.client),
    alertStateTableName: db.alertStateTableName,
    channels: [SLACK, HOOK],
    environment: "test",
    timeoutMs: 2000,
    ca: ca.certPem,
    readSecret: async (id) => {
      if (!(id in secretValues)) throw Object.assign(new Error("not found"), { name: "ResourceNotFoundException" });
      return secretValues[id];
    },
    now: Date.now,
    ...overrides,
  };
}

function notification(overrides: Record<string, string> = {}) {
  messageCounter += 1;
  return {
    messageId: `msg-${Date.now()}-${messageCounter}`,
    topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-test-alerts",
    subject: "[test] SN0001 error SENSOR_FAILURE: probe <@channel> lost",
    message: "Device SN0001 reported an error in test.\n\nCode:        SENSOR_FAILURE\nMessage:     probe <@channel> lost & gone",
    timestamp: "2026-11-26T09:14:00.000Z",
    ...overrides,
  };
}

const byPath = (prefix: string) => receiver.requests.filter((r) => r.path.startsWith(prefix));

describe("alert forwarder: delivery", () => {
  test("posts the alert to Slack as blocks with a text fallback, device text escaped", async () => {
    // GIVEN an alert whose device text tries a Slack mention
    const alert = notification();
    // WHEN it is forwarded
    const outcomes = await forwardAlert(deps({ channels: [SLACK] }), alert);
    // THEN Slack gets the subject as header and fallback, and the text in a code block, escaped
    expect(outcomes).toEqual([{ channel: "ops", kind: "slack", outcome: "delivered", host: expect.stringMatching(/^127\.0\.0\.1:\d+$/), status: 200 }]);
    const [post] = byPath("/services/");
    expect(post.path).toBe("/services/T000/B000/slack-token");
    expect(post.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(post.body.text).toBe("[test] SN0001 error SENSOR_FAILURE: probe &lt;@channel&gt; lost");
    const blocks = post.body.blocks as { type: string; text?: { type: string; text: string } }[];
    expect(blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: alert.subject } });
    expect(blocks[1].text?.text).toBe(
      "```Device SN0001 reported an error in test.\n\nCode:        SENSOR_FAILURE\nMessage:     probe &lt;@channel&gt; lost &amp; gone```",
    );
  });

  test("posts the same content to the webhook as versioned JSON with its authorization", async () => {
    // GIVEN an alert
    const alert = notification();
    // WHEN it is forwarded to both channels
    await forwardAlert(deps(), alert);
    // THEN the webhook gets the subject and message unchanged, and its own Authorization header
    const [post] = byPath("/hooks/");
    expect(post.headers.authorization).toBe("Bearer hook-token");
    expect(post.body).toEqual({
      version: 1,
      source: "smart-home-fleet",
      environment: "test",
      id: alert.messageId,
      subject: alert.subject,
      message: alert.message,
      publishedAt: alert.timestamp,
    });
    expect(byPath("/services/")).toHaveLength(1);
  });

  test("keeps a long alert within Slack's block limits", async () => {
    // GIVEN an alert longer than one Slack section and a subject longer than a header
    const alert = notification({ subject: "S".repeat(300), message: "x".repeat(7000) });
    // WHEN it is forwarded
    await forwardAlert(deps({ channels: [SLACK] }), alert);
    // THEN the header holds at most 150 characters and every section at most 3000
    const blocks = byPath("/services/")[0].body.blocks as { type: string; text?: { text: string } }[];
    expect(blocks[0].text!.text.length).toBeLessThanOrEqual(150);
    const sections = blocks.filter((b) => b.type === "section");
    expect(sections.length).toBe(3);
    for (const s of sections) expect(s.text!.text.length).toBeLessThanOrEqual(3000);
    expect(sections.map((s) => s.text!.text.replace(/```/g, "")).join("")).toBe("x".repeat(7000));
  });

  test("cuts a huge alert after ten sections and says so", async () => {
    // GIVEN a 100,000-character alert text (a device may send that much)
    await forwardAlert(deps({ channels: [SLACK] }), notification({ message: "y".repeat(100_000) }));
    // THEN Slack gets ten sections and a note instead of the rest
    const blocks = byPath("/services/")[0].body.blocks as { type: string; elements?: { text: string }[] }[];
    expect(blocks.filter((b) => b.type === "section")).toHaveLength(10);
    expect(blocks.some((b) => b.type === "context" && b.elements![0].text.startsWith("(cut after 29920 characters"))).toBe(true);
  });
});

describe("alert forwarder: failures are retried, never dropped", () => {
  test("fails a channel that answers 500 and does not re-post the channel that succeeded on retry", async () => {
    // GIVEN a webhook answering 500 while Slack works
    receiver.respond = (r) => (r.path.startsWith("/hooks/") ? { status: 500, body: "internal error" } : { status: 200, body: "ok" });
    const alert = notification();
    // WHEN the alert is forwarded
    const first = await forwardAlert(deps(), alert);
    // THEN the webhook fails with the status, Slack is delivered
    expect(first.find((o) => o.channel === "pager")).toMatchObject({
      outcome: "failed",
      permanent: false,
      error: expect.stringMatching(/answered 500: internal error$/),
    });
    expect(first.find((o) => o.channel === "ops")).toMatchObject({ outcome: "delivered" });
    // WHEN the webhook recovers and Lambda retries the same notification
    receiver.respond = () => ({ status: 200, body: "ok" });
    const retry = await forwardAlert(deps(), alert);
    // THEN only the webhook is posted again
    expect(retry.find((o) => o.channel === "ops")).toMatchObject({ outcome: "already-delivered" });
    expect(retry.find((o) => o.channel === "pager")).toMatchObject({ outcome: "delivered" });
    expect(byPath("/services/")).toHaveLength(1);
    expect(byPath("/hooks/")).toHaveLength(2);
  });

  test("fails a receiver that does not answer within the timeout", async () => {
    // GIVEN a receiver that accepts the request and never answers
    receiver.respond = () => "hang";
    // WHEN an alert is forwarded with a 300 ms timeout
    const [outcome] = await forwardAlert(deps({ channels: [HOOK], timeoutMs: 300 }), notification());
    // THEN the channel failed (retryable)
    expect(outcome).toMatchObject({ outcome: "failed", permanent: false, error: expect.stringMatching(/did not answer within 300 ms$/) });
  });

  test("fails a channel whose secret holds a plain http or malformed URL, as permanent", async () => {
    // GIVEN secrets with an http URL and garbage
    secretValues[SLACK.secretId] = "http://hooks.example.com/services/x";
    secretValues[HOOK.secretId] = "not a url";
    // WHEN an alert is forwarded
    const outcomes = await forwardAlert(deps(), notification());
    // THEN both fail, named, and nothing was posted
    expect(outcomes).toEqual([
      { channel: "ops", kind: "slack", outcome: "failed", permanent: true, error: "channel URL must be https, not http:" },
      { channel: "pager", kind: "webhook", outcome: "failed", permanent: true, error: "channel URL in the secret is not a URL" },
    ]);
    expect(receiver.requests).toHaveLength(0);
  });

  test("fails when the receiver's certificate is not trusted (TLS is verified)", async () => {
    // GIVEN the forwarder without the test CA: the receiver's certificate chains to an unknown root
    // WHEN an alert is forwarded
    const [outcome] = await forwardAlert(deps({ channels: [SLACK], ca: undefined }), notification());
    // THEN the channel fails and nothing reached the receiver's handler
    expect(outcome).toMatchObject({ outcome: "failed", error: expect.stringMatching(/certificate/i) });
    expect(receiver.requests).toHaveLength(0);
  });

  test("fails a channel whose secret has no value yet, naming the secret", async () => {
    // GIVEN a configured channel whose secret was never filled
    delete secretValues[HOOK.secretId];
    // WHEN an alert is forwarded
    const [outcome] = await forwardAlert(deps({ channels: [HOOK] }), notification());
    // THEN the error says which secret to fill
    expect(outcome).toMatchObject({
      outcome: "failed",
      error: `secret ${HOOK.secretId} could not be read (ResourceNotFoundException); put the channel URL into it`,
    });
  });
});

describe("alert forwarder: handler", () => {
  type ForwarderModule = typeof import("../../functions/alert-forwarder");
  type SecretsModule = typeof import("@aws-sdk/client-secrets-manager");

  function loadHandler(channels: string) {
    const { mod, extra } = loadWith<ForwarderModule>(
      "../../functions/alert-forwarder",
      { ALERT_CHANNELS: channels, ALERT_STATE_TABLE_NAME: db.alertStateTableName, ALERT_DELIVERY_TIMEOUT_MS: "1000", ENVIRONMENT: "test" },
      ["@aws-sdk/client-secrets-manager"],
    );
    const sm = extra["@aws-sdk/client-secrets-manager"] as SecretsModule;
    return { mod, sm, mock: mockClient(sm.SecretsManagerClient) };
  }

  const snsEvent = (alert = notification()) => ({
    Records: [
      {
        EventSource: "aws:sns",
        Sns: { MessageId: alert.messageId, TopicArn: alert.topicArn, Subject: alert.subject, Message: alert.message, Timestamp: alert.timestamp },
      },
    ],
  });

  test("reads each channel's secret at run time and throws when a delivery fails, so Lambda retries and dead-letters", async () => {
    // GIVEN two channels whose secrets point at an unreachable and a plain-http receiver
    const { mod, sm, mock } = loadHandler(channelsSetting([SLACK, HOOK]));
    mock.on(sm.GetSecretValueCommand, { SecretId: SLACK.secretId }).resolves({ SecretString: "https://127.0.0.1:9/services/x" });
    mock.on(sm.GetSecretValueCommand, { SecretId: HOOK.secretId }).resolves({ SecretString: "http://127.0.0.1:9/hook" });
    try {
      // WHEN the SNS notification is handled
      // THEN the invocation fails, naming both channels
      await expect(mod.handler(snsEvent())).rejects.toThrow(
        /alert delivery failed for ops \(slack\): 127\.0\.0\.1:9: .*; pager \(webhook\): channel URL must be https/,
      );
      // AND exactly the two configured secrets were read, by id
      expect(
        mock
          .commandCalls(sm.GetSecretValueCommand)
          .map((c) => c.args[0].input)
          .sort((a, b) => String(a.SecretId).localeCompare(String(b.SecretId))),
      ).toEqual([{ SecretId: SLACK.secretId }, { SecretId: HOOK.secretId }]);
    } finally {
      mock.restore();
    }
  });

  test("fails the invocation when the configuration is invalid", async () => {
    // GIVEN a channel list with an unknown kind
    const { mod, mock } = loadHandler("sms:ops=secret");
    try {
      // THEN every invocation fails with the reason
      await expect(mod.handler(snsEvent())).rejects.toThrow(/alert-forwarder misconfigured: alert channel "sms:ops=secret" must be/);
    } finally {
      mock.restore();
    }
  });

  test("drops an event that is not an SNS notification", async () => {
    const { mod, mock } = loadHandler(channelsSetting([SLACK]));
    try {
      await expect(mod.handler({ hello: "world" })).resolves.toEqual({ status: "dropped" });
      expect(mock.calls()).toHaveLength(0);
    } finally {
      mock.restore();
    }
  });
});

describe("alert forwarder: channel setting", () => {
  test("round-trips and refuses duplicates", () => {
    expect(parseChannels(channelsSetting([SLACK, HOOK]))).toEqual([SLACK, HOOK]);
    expect(() => parseChannels(channelsSetting([SLACK, { ...HOOK, name: "ops" }]))).toThrow("alert channel names must be unique: ops");
    expect(() => parseChannels("")).toThrow("at least one alert channel is required");
  });
});
