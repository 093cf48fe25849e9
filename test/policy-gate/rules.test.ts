/** Every rule of the pack against its passing and its failing fixture, plus the cross-stack and hostile cases. */
import { RULES, ruleById } from "../../modules/policy-gate/rules";
import { StackView, TerraformJson } from "../../modules/policy-gate/stack-view";
import { resourceFixtures } from "./fixtures-resources";
import { identityFixtures } from "./fixtures-identity";
import { roleWithPolicy, tf } from "./fixture-kit";
import { throwawayEcKeyPem } from "../support/pem";

const fixtures = { ...resourceFixtures, ...identityFixtures };

function check(ruleId: string, stack: TerraformJson, others: readonly TerraformJson[] = []) {
  const otherViews = others.map((o, i) => new StackView(`other-${i}`, o));
  return ruleById(ruleId)!.check(new StackView("fixture", stack, () => otherViews));
}

test("the pack has at least 30 rules, each with an id, why, fix and equivalents", () => {
  expect(RULES.length).toBeGreaterThanOrEqual(30);
  for (const rule of RULES) {
    expect(rule.id).toMatch(/^[A-Z0-9]+(-[A-Z0-9]+)+$/);
    expect([rule.id, rule.why.length > 20, rule.fix.length > 10]).toEqual([rule.id, true, true]);
    expect(Object.values(rule.equivalents).every((v) => v.length > 0)).toBe(true);
  }
});

test("every rule has a fixture and every fixture names a rule", () => {
  expect(Object.keys(fixtures).sort()).toEqual(RULES.map((r) => r.id).sort());
});

describe.each(RULES.map((r) => r.id))("%s", (ruleId) => {
  test("passes its compliant fixture", () => {
    expect(check(ruleId, fixtures[ruleId].pass, fixtures[ruleId].others)).toEqual([]);
  });

  test("fails its violating fixture at the offending address", () => {
    const findings = check(ruleId, fixtures[ruleId].fail, fixtures[ruleId].others);
    expect(findings.map((f) => f.address)).toContain(fixtures[ruleId].failAt);
    for (const f of findings) expect(f.detail.length).toBeGreaterThan(5);
  });
});

describe("relations the gate follows", () => {
  const fnStack = tf({ aws_lambda_function: { f: { function_name: "app-alert-handler", runtime: "nodejs22.x" } } });
  const ruleStack = tf({
    aws_iot_topic_rule: {
      r: {
        name: "r",
        sql: "SELECT topic(2) AS thingName FROM 'devices/+/telemetry'",
        lambda: [{ function_arn: "arn:aws:lambda:eu-west-1:111111111111:function:app-alert-handler" }],
        error_action: {},
      },
    },
  });

  test("fails when another stack's topic rule invokes the function by ARN and no on-failure destination exists", () => {
    expect(check("LAMBDA-ASYNC-ON-FAILURE", fnStack, [ruleStack]).map((f) => f.detail)).toEqual([expect.stringContaining("other-0 aws_iot_topic_rule.r")]);
  });

  test("a dead-letter queue on the function also counts as an on-failure destination", () => {
    const withDlq = tf({
      aws_lambda_function: {
        f: { function_name: "app-alert-handler", runtime: "nodejs22.x", dead_letter_config: { target_arn: "arn:aws:sqs:eu-west-1:1:dlq" } },
      },
    });
    expect(check("LAMBDA-ASYNC-ON-FAILURE", withDlq, [ruleStack])).toEqual([]);
  });

  test("a function nobody invokes asynchronously needs no destination", () => {
    expect(check("LAMBDA-ASYNC-ON-FAILURE", fnStack)).toEqual([]);
  });

  test("SELECT * stays allowed on AWS's own lifecycle topics, which no device can publish to", () => {
    const lifecycle = tf({ aws_iot_topic_rule: { r: { sql: "SELECT * FROM '$aws/events/presence/+/+'", error_action: {} } } });
    expect(check("IOT-RULE-EXPLICIT-FIELDS", lifecycle)).toEqual([]);
  });

  test("a * inside a function call or string is not a bare SELECT *", () => {
    const counted = tf({ aws_iot_topic_rule: { r: { sql: "SELECT count(*) AS n, 'a*b' AS s FROM 'devices/+/telemetry'", error_action: {} } } });
    expect(check("IOT-RULE-EXPLICIT-FIELDS", counted)).toEqual([]);
  });
});

describe("hostile shapes", () => {
  test("fails when a pull-request role attaches AdministratorAccess, or a managed policy the gate cannot evaluate", () => {
    const role = roleWithPolicy([{ effect: "Allow", actions: ["s3:ListBucket"], resources: ["arn:aws:s3:::state"] }], {
      trust: {
        statement: [
          {
            effect: "Allow",
            actions: ["sts:AssumeRoleWithWebIdentity"],
            principals: [{ type: "Federated", identifiers: ["arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"] }],
            condition: [
              { test: "StringEquals", variable: "token.actions.githubusercontent.com:aud", values: ["sts.amazonaws.com"] },
              { test: "StringEquals", variable: "token.actions.githubusercontent.com:sub", values: ["repo:org/app:pull_request"] },
            ],
          },
        ],
      },
      managed: ["arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/AmazonS3FullAccess"],
    });
    expect(check("IAM-PR-ROLE-READ-ONLY", role).map((f) => f.detail)).toEqual(
      expect.arrayContaining([expect.stringContaining("AmazonS3FullAccess, which the gate cannot evaluate"), expect.stringContaining("writes S3 objects")]),
    );
  });

  test("fails when a conditional Deny is all that stands between a pull-request role and secret values (conditions may not hold)", () => {
    const role = roleWithPolicy(
      [
        {
          effect: "Deny",
          actions: ["secretsmanager:GetSecretValue"],
          resources: ["*"],
          condition: [{ test: "StringEquals", variable: "aws:RequestedRegion", values: ["eu-west-1"] }],
        },
      ],
      {
        trust: {
          statement: [
            {
              effect: "Allow",
              actions: ["sts:AssumeRoleWithWebIdentity"],
              principals: [{ type: "Federated", identifiers: ["token.actions.githubusercontent.com"] }],
              condition: [{ test: "StringLike", variable: "token.actions.githubusercontent.com:sub", values: ["repo:org/app:*"] }],
            },
          ],
        },
        managed: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
      },
    );
    expect(check("IAM-PR-ROLE-READ-ONLY", role).map((f) => f.detail)).toContainEqual(expect.stringContaining("secretsmanager:GetSecretValue"));
  });

  test("fails when an OIDC subject is a wildcard over every branch", () => {
    const role = roleWithPolicy([{ effect: "Allow", actions: ["s3:ListBucket"], resources: ["arn:aws:s3:::state"] }], {
      trust: {
        statement: [
          {
            effect: "Allow",
            actions: ["sts:AssumeRoleWithWebIdentity"],
            principals: [{ type: "Federated", identifiers: ["token.actions.githubusercontent.com"] }],
            condition: [
              { test: "StringEquals", variable: "token.actions.githubusercontent.com:aud", values: ["sts.amazonaws.com"] },
              { test: "StringLike", variable: "token.actions.githubusercontent.com:sub", values: ["repo:org/*"] },
            ],
          },
        ],
      },
    });
    expect(check("IAM-OIDC-TRUST-SCOPED", role).map((f) => f.detail)).toEqual([expect.stringContaining("repo:org/*")]);
  });

  test("fails when Action * hides in a literal JSON policy instead of a policy document", () => {
    const literal = tf({
      aws_iam_role_policy: { p: { role: "r", policy: JSON.stringify({ Version: "2012-10-17", Statement: { Effect: "Allow", Action: "*", Resource: "*" } }) } },
    });
    expect(check("IAM-NO-STAR-ACTION", literal).map((f) => f.address)).toEqual(["aws_iam_role_policy.p"]);
  });

  test("fails when a private key is put in an environment variable", () => {
    const fn = tf({ aws_lambda_function: { f: { runtime: "nodejs22.x", environment: { variables: { CERT: throwawayEcKeyPem() } } } } });
    expect(check("LAMBDA-NO-SECRETS-IN-ENV", fn)).toHaveLength(1);
    expect(check("SECRETS-NO-PRIVATE-KEY-MATERIAL", fn)).toHaveLength(1);
  });
});
