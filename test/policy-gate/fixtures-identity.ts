/** Passing and failing fixtures for the IAM, secrets and AWS IoT rules. */
import { throwawayRsaKeyPem } from "../support/pem";
import { Fixture, IOT, THING, doc, docRef, githubTrust, iotPolicy, isAttached, ref, roleWithPolicy, tf, variant } from "./fixture-kit";

const ROLE = "aws_iam_role.role";
const REPO = "repo:org/app";
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";

/** The Denies that keep ReadOnlyAccess away from secret values, data and decryption (the shape of the app's plan role). */
const prDenies = [
  { effect: "Deny", actions: ["secretsmanager:GetSecretValue"], resources: ["*"] },
  { effect: "Deny", actions: ["s3:GetObject"], not_resources: ["arn:aws:s3:::state/*"] },
  { effect: "Deny", actions: ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem"], resources: ["*"] },
  { effect: "Deny", actions: ["ssm:GetParameter*"], not_resources: ["arn:aws:ssm:*:*:parameter/app/public/*"] },
  { effect: "Deny", actions: ["kms:Decrypt"], resources: ["*"] },
  { effect: "Deny", actions: ["logs:GetLogEvents", "logs:FilterLogEvents"], resources: ["*"] },
];
const prRole = roleWithPolicy([{ effect: "Allow", actions: ["s3:GetObject"], resources: ["arn:aws:s3:::state/*"] }, ...prDenies], {
  trust: githubTrust(`${REPO}:pull_request`),
  managed: [READ_ONLY],
});

const twoRoles = (subA: string, subB: string) =>
  tf(
    { aws_iam_role: { a: { name: "a", assume_role_policy: docRef("a-trust") }, b: { name: "b", assume_role_policy: docRef("b-trust") } } },
    { aws_iam_policy_document: { "a-trust": githubTrust(subA), "b-trust": githubTrust(subB) } },
  );

const devicePolicy = iotPolicy(
  { effect: "Allow", actions: ["iot:Connect"], resources: [`${IOT}:client/${THING}`], condition: isAttached },
  { effect: "Allow", actions: ["iot:Publish"], resources: [`${IOT}:topic/devices/${THING}/telemetry`] },
  { effect: "Allow", actions: ["iot:Subscribe"], resources: [`${IOT}:topicfilter/devices/${THING}/commands`] },
);
const claimPolicy = (topic: string) =>
  variant(
    iotPolicy(
      { effect: "Allow", actions: ["iot:Connect"], resources: [`${IOT}:client/provision-*`] },
      { effect: "Allow", actions: ["iot:Publish", "iot:Receive"], resources: [`${IOT}:topic/$aws/certificates/create-from-csr/*`, `${IOT}:topic/${topic}`] },
    ),
    (t) => (t.resource.aws_iot_provisioning_template = { tpl: { name: "pi-provisioning", template_body: "{}" } }),
  );
/** A device policy allowing Basic Ingest on `topic`, beside a store rule `store` on devices/+/telemetry. */
const basicIngest = (topic: string) =>
  variant(
    iotPolicy(
      { effect: "Allow", actions: ["iot:Connect"], resources: [`${IOT}:client/${THING}`], condition: isAttached },
      { effect: "Allow", actions: ["iot:Publish"], resources: [`${IOT}:topic/${topic}`] },
    ),
    (t) =>
      (t.resource.aws_iot_topic_rule = { store: { name: "store", sql: "SELECT topic(2) AS thingName FROM 'devices/+/telemetry'", sql_version: "2016-03-23" } }),
  );
const topicRule = (sql: string) =>
  tf({ aws_iot_topic_rule: { r: { name: "r", sql, sql_version: "2016-03-23", error_action: { cloudwatch_logs: { log_group_name: "g" } } } } });

export const identityFixtures: Record<string, Fixture> = {
  "IAM-NO-STAR-ACTION": {
    pass: roleWithPolicy([{ effect: "Allow", actions: ["s3:GetObject"], resources: ["arn:aws:s3:::b/*"] }]),
    fail: roleWithPolicy([{ effect: "Allow", actions: ["*"], resources: ["arn:aws:s3:::b/*"] }]),
    failAt: "data.aws_iam_policy_document.permissions",
  },
  // A permissions boundary (a ceiling that grants nothing) may name whole services.
  "IAM-NO-SERVICE-STAR-ON-ALL": {
    pass: variant(
      roleWithPolicy([{ effect: "Allow", actions: ["s3:*"], resources: ["arn:aws:s3:::app-*"] }], { boundary: ref("aws_iam_policy.boundary", "arn") }),
      (t) => {
        t.resource.aws_iam_policy = { boundary: { name: "boundary", policy: docRef("ceiling") } };
        t.data.aws_iam_policy_document.ceiling = doc({ effect: "Allow", actions: ["s3:*", "dynamodb:*"], resources: ["*"] });
      },
    ),
    fail: roleWithPolicy([{ effect: "Allow", actions: ["s3:*"], resources: ["*"] }]),
    failAt: "data.aws_iam_policy_document.permissions",
  },
  "IAM-NO-PASSROLE-ON-ALL": {
    pass: roleWithPolicy([{ effect: "Allow", actions: ["iam:PassRole"], resources: ["arn:aws:iam::1:role/app-fn"] }]),
    fail: roleWithPolicy([{ effect: "Allow", actions: ["iam:PassRole"], resources: ["*"] }]),
    failAt: "data.aws_iam_policy_document.permissions",
  },
  "IAM-STAR-RESOURCE-ALLOWLIST": {
    pass: roleWithPolicy([{ effect: "Allow", actions: ["ecr:GetAuthorizationToken"], resources: ["*"] }]),
    fail: roleWithPolicy([{ effect: "Allow", actions: ["dynamodb:GetItem"], resources: ["*"] }]),
    failAt: "data.aws_iam_policy_document.permissions",
  },
  "IAM-OIDC-TRUST-SCOPED": {
    pass: roleWithPolicy([{ effect: "Allow", actions: ["s3:ListBucket"], resources: ["arn:aws:s3:::state"] }], {
      trust: githubTrust(`${REPO}:environment:prod`),
    }),
    fail: roleWithPolicy([{ effect: "Allow", actions: ["s3:ListBucket"], resources: ["arn:aws:s3:::state"] }], { trust: githubTrust(undefined) }),
    failAt: ROLE,
  },
  "IAM-OIDC-SUBJECT-UNIQUE": {
    pass: twoRoles(`${REPO}:pull_request`, `${REPO}:environment:prod`),
    fail: twoRoles(`${REPO}:environment:prod`, `${REPO}:environment:prod`),
    failAt: "aws_iam_role.a",
  },
  "IAM-WRITERS-HAVE-BOUNDARY": {
    pass: roleWithPolicy([{ effect: "Allow", actions: ["iam:CreateRole"], resources: ["arn:aws:iam::1:role/app-*"] }], {
      boundary: "arn:aws:iam::1:policy/boundary",
    }),
    fail: roleWithPolicy([{ effect: "Allow", actions: ["iam:CreateRole"], resources: ["arn:aws:iam::1:role/app-*"] }]),
    failAt: ROLE,
  },
  // ReadOnlyAccess reaches secret values and data unless Denies carve them out.
  "IAM-PR-ROLE-READ-ONLY": {
    pass: prRole,
    fail: variant(prRole, (t) => (t.data.aws_iam_policy_document.permissions.statement as unknown[]).splice(1, 1)),
    failAt: ROLE,
  },
  "SECRETS-IOT-CERT-FROM-CSR": {
    pass: tf({ aws_iot_certificate: { c: { active: true, csr: "-----BEGIN CERTIFICATE REQUEST-----\nMII...\n-----END CERTIFICATE REQUEST-----\n" } } }),
    fail: tf({ aws_iot_certificate: { c: { active: true } } }),
    failAt: "aws_iot_certificate.c",
  },
  "SECRETS-NO-TLS-PRIVATE-KEY": {
    pass: tf({ aws_iot_certificate: { c: { csr: "-----BEGIN CERTIFICATE REQUEST-----" } } }),
    fail: tf({ tls_private_key: { k: { algorithm: "RSA" } } }),
    failAt: "tls_private_key.k",
  },
  "SECRETS-NO-VALUE-IN-STATE": {
    pass: tf({ aws_secretsmanager_secret: { s: { name: "s" } } }),
    fail: tf(
      { aws_secretsmanager_secret: { s: { name: "s" } } },
      { aws_secretsmanager_secret_version: { v: { secret_id: ref("aws_secretsmanager_secret.s", "id") } } },
    ),
    failAt: "data.aws_secretsmanager_secret_version.v",
  },
  "SECRETS-NO-PRIVATE-KEY-MATERIAL": {
    pass: tf({}, {}, { cert: { value: "-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----" } }),
    // A key made at run time: no private key, real or look-alike, is committed.
    fail: tf({}, {}, { key: { value: throwawayRsaKeyPem() } }),
    failAt: "output.key",
  },
  "IOT-NO-WILDCARD-ACTION": {
    pass: devicePolicy,
    fail: iotPolicy({ effect: "Allow", actions: ["iot:*"], resources: [`${IOT}:topic/devices/${THING}/*`] }),
    failAt: "aws_iot_policy.policy",
  },
  "IOT-CONNECT-SCOPED": {
    pass: devicePolicy,
    fail: iotPolicy({ effect: "Allow", actions: ["iot:Connect"], resources: [`${IOT}:client/*`] }),
    failAt: "aws_iot_policy.policy",
  },
  "IOT-CONNECT-IS-ATTACHED": {
    pass: devicePolicy,
    fail: variant(devicePolicy, (t) => delete (t.data.aws_iam_policy_document.iot.statement as Record<string, unknown>[])[0].condition),
    failAt: "aws_iot_policy.policy",
  },
  // Another device's topic (devices/* instead of the thing-name variable).
  "IOT-DATA-OWN-TOPICS": {
    pass: devicePolicy,
    fail: variant(
      devicePolicy,
      (t) => ((t.data.aws_iam_policy_document.iot.statement as { resources: string[] }[])[1].resources = [`${IOT}:topic/devices/*/telemetry`]),
    ),
    failAt: "aws_iot_policy.policy",
  },
  // Every rule of the app through Basic Ingest (test/policy-gate/basic-ingest-topics.test.ts has the other hostile grants).
  "IOT-BASIC-INGEST-EXACT": {
    pass: basicIngest(`$aws/rules/store/devices/${THING}/telemetry`),
    fail: basicIngest(`$aws/rules/*/devices/${THING}/telemetry`),
    failAt: "aws_iot_policy.policy",
  },
  "IOT-CLAIM-PROVISIONING-ONLY": {
    pass: claimPolicy("$aws/provisioning-templates/pi-provisioning/provision/*"),
    fail: claimPolicy("$aws/provisioning-templates/other-template/provision/*"),
    failAt: "aws_iot_policy.policy",
  },
  "IOT-RULE-EXPLICIT-FIELDS": {
    pass: topicRule("SELECT topic(2) AS thingName, code, message, timestamp() AS receivedAt FROM 'devices/+/errors'"),
    fail: topicRule("SELECT *, topic(2) AS thingName FROM 'devices/+/errors'"),
    failAt: "aws_iot_topic_rule.r",
  },
  "IOT-RULE-ERROR-ACTION": {
    pass: topicRule("SELECT * FROM '$aws/events/presence/+/+'"),
    fail: variant(topicRule("SELECT * FROM '$aws/events/presence/+/+'"), (t) => delete t.resource.aws_iot_topic_rule.r.error_action),
    failAt: "aws_iot_topic_rule.r",
  },
  "IOT-LOGGING-ENABLED": {
    pass: tf({ aws_iot_logging_options: { l: { default_log_level: "WARN", role_arn: "arn:aws:iam::1:role/l" } } }),
    fail: tf({ aws_iot_logging_options: { l: { default_log_level: "DISABLED", role_arn: "arn:aws:iam::1:role/l" } } }),
    failAt: "aws_iot_logging_options.l",
  },
};
