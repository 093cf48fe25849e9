/**
 * The policy engine's AWS semantics on small hand-written documents: wildcards, MQTT wildcards as
 * literals, explicit deny, policy variables (resolved, unresolved, literal), condition operators.
 */
import {
  ConnectionContext,
  IotPolicyDocument,
  IotPolicyStatement,
  evaluatePolicies,
  parsePolicyDocument,
  wildcardMatch,
} from "../../../local/iot-core/policy-engine";

const ARN = "arn:aws:iot:eu-west-1:111111111111";
const attached: ConnectionContext = {
  clientId: "SN-1",
  certificateId: "c1",
  thing: { thingName: "SN-1", thingTypeName: "shf-dev-thermostat", attributes: { building: "b7" } },
};
const unattached: ConnectionContext = { clientId: "SN-1", certificateId: "c1" };
const allow = (Action: string | string[], Resource: string | string[], Condition?: IotPolicyStatement["Condition"]): IotPolicyDocument => ({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action, Resource, ...(Condition ? { Condition } : {}) }],
});

describe("wildcardMatch", () => {
  it("GIVEN * WHEN matched THEN it spans any characters including /", () => {
    expect(wildcardMatch("topic/devices/*", "topic/devices/a/b/c")).toBe(true);
  });

  it("GIVEN ? WHEN matched THEN it stands for exactly one character", () => {
    expect([wildcardMatch("SN-?", "SN-1"), wildcardMatch("SN-?", "SN-12"), wildcardMatch("SN-?", "SN-")]).toEqual([true, false, false]);
  });

  it("GIVEN + and # in a pattern WHEN matched THEN they are literal characters", () => {
    expect([wildcardMatch("devices/+/x", "devices/a/x"), wildcardMatch("devices/+/x", "devices/+/x"), wildcardMatch("#", "a/b")]).toEqual([false, true, false]);
  });
});

describe("evaluatePolicies", () => {
  it("GIVEN an allow and a matching deny in another policy WHEN evaluated THEN the explicit deny wins", () => {
    const deny: IotPolicyDocument = { Statement: { Effect: "Deny", Action: "iot:Publish", Resource: `${ARN}:topic/a` } };
    expect(evaluatePolicies([allow("iot:*", `${ARN}:topic/*`), deny], "iot:Publish", `${ARN}:topic/a`, attached)).toBe("explicit-deny");
  });

  it("GIVEN no statement for the action WHEN evaluated THEN it is implicitly denied", () => {
    expect(evaluatePolicies([allow("iot:Subscribe", `${ARN}:topicfilter/a`)], "iot:Publish", `${ARN}:topic/a`, attached)).toBe("no-policy-allows");
  });

  it("GIVEN a lower-case action in the policy WHEN evaluated THEN actions compare case-insensitively", () => {
    expect(evaluatePolicies([allow("IOT:publish", `${ARN}:topic/a`)], "iot:Publish", `${ARN}:topic/a`, attached)).toBe("allowed");
  });

  it("GIVEN a resource of another account WHEN evaluated THEN it does not match", () => {
    expect(evaluatePolicies([allow("iot:Publish", "arn:aws:iot:eu-west-1:222222222222:topic/a")], "iot:Publish", `${ARN}:topic/a`, attached)).toBe(
      "no-policy-allows",
    );
  });

  it("GIVEN topicfilter/devices/* WHEN the subscription is to # THEN it is refused (only a policy naming # grants #)", () => {
    const policy = allow("iot:Subscribe", `${ARN}:topicfilter/devices/*`);
    expect(evaluatePolicies([policy], "iot:Subscribe", `${ARN}:topicfilter/#`, attached)).toBe("no-policy-allows");
    expect(evaluatePolicies([policy], "iot:Subscribe", `${ARN}:topicfilter/devices/+/x`, attached)).toBe("allowed");
  });

  it("GIVEN ${iot:Connection.Thing.ThingName} WHEN the thing is attached THEN it resolves to the thing name", () => {
    const policy = allow("iot:Publish", `${ARN}:topic/d/\${iot:Connection.Thing.ThingName}`);
    expect(evaluatePolicies([policy], "iot:Publish", `${ARN}:topic/d/SN-1`, attached)).toBe("allowed");
  });

  it("GIVEN a thing variable WHEN no thing is attached THEN the resource never matches (AWS: not resolved, access denied)", () => {
    const policy = allow("iot:Publish", [`${ARN}:topic/d/\${iot:Connection.Thing.ThingName}`, `${ARN}:topic/d/\${iot:Connection.Thing.ThingName}*`]);
    expect(evaluatePolicies([policy], "iot:Publish", `${ARN}:topic/d/SN-1`, unattached)).toBe("no-policy-allows");
  });

  it("GIVEN a client id with * WHEN substituted THEN it matches only itself, not as a wildcard", () => {
    const policy = allow("iot:Connect", `${ARN}:client/\${iot:ClientId}`);
    const ctx: ConnectionContext = { clientId: "a*", certificateId: "c1" };
    expect(evaluatePolicies([policy], "iot:Connect", `${ARN}:client/a*`, ctx)).toBe("allowed");
    expect(evaluatePolicies([policy], "iot:Connect", `${ARN}:client/abc`, { ...ctx, clientId: "a*" })).toBe("no-policy-allows");
  });

  it("GIVEN ${*} in a resource WHEN matched THEN it is a literal *", () => {
    const policy = allow("iot:Publish", `${ARN}:topic/a/\${*}`);
    expect([
      evaluatePolicies([policy], "iot:Publish", `${ARN}:topic/a/*`, attached),
      evaluatePolicies([policy], "iot:Publish", `${ARN}:topic/a/b`, attached),
    ]).toEqual(["allowed", "no-policy-allows"]);
  });

  it("GIVEN Bool IsAttached true WHEN the client id is not an attached thing THEN Connect is refused", () => {
    const policy = allow("iot:Connect", `${ARN}:client/*`, { Bool: { "iot:Connection.Thing.IsAttached": "true" } });
    expect([
      evaluatePolicies([policy], "iot:Connect", `${ARN}:client/SN-1`, attached),
      evaluatePolicies([policy], "iot:Connect", `${ARN}:client/SN-1`, unattached),
    ]).toEqual(["allowed", "no-policy-allows"]);
  });

  it("GIVEN StringEquals on a thing attribute and the thing type WHEN both match THEN it is allowed", () => {
    const policy = allow("iot:Publish", `${ARN}:topic/x`, {
      StringEquals: { "iot:Connection.Thing.Attributes[building]": "b7", "iot:Connection.Thing.ThingTypeName": "shf-dev-thermostat" },
    });
    expect(evaluatePolicies([policy], "iot:Publish", `${ARN}:topic/x`, attached)).toBe("allowed");
    expect(evaluatePolicies([policy], "iot:Publish", `${ARN}:topic/x`, { ...attached, thing: { ...attached.thing!, attributes: { building: "b8" } } })).toBe(
      "no-policy-allows",
    );
  });

  it("GIVEN StringLike with a variable in the value WHEN evaluated THEN the variable resolves inside the pattern", () => {
    const policy = allow("iot:Connect", `${ARN}:client/*`, { StringLike: { "iot:ClientId": "${iot:Connection.Thing.ThingName}*" } });
    expect(evaluatePolicies([policy], "iot:Connect", `${ARN}:client/SN-1`, { ...attached, clientId: "SN-1" })).toBe("allowed");
  });

  it("GIVEN StringNotEquals on an absent key WHEN evaluated THEN it holds, as IAM's negated operators do", () => {
    const deny: IotPolicyDocument = {
      Statement: [
        {
          Effect: "Deny",
          Action: "iot:Publish",
          Resource: `${ARN}:topic/*`,
          Condition: { StringNotEquals: { "iot:Connection.Thing.ThingTypeName": "shf-dev-thermostat" } },
        },
      ],
    };
    expect(evaluatePolicies([allow("iot:Publish", `${ARN}:topic/*`), deny], "iot:Publish", `${ARN}:topic/x`, unattached)).toBe("explicit-deny");
  });

  it("GIVEN ForAnyValue:StringLike WHEN the single value matches THEN it holds", () => {
    const policy = allow("iot:Connect", `${ARN}:client/*`, { "ForAnyValue:StringLike": { "iot:ClientId": ["provision-*", "x"] } });
    expect(evaluatePolicies([policy], "iot:Connect", `${ARN}:client/provision-1`, { clientId: "provision-1", certificateId: "c" })).toBe("allowed");
  });

  it("GIVEN NotResource WHEN the request is outside it THEN the statement applies", () => {
    const policy: IotPolicyDocument = { Statement: { Effect: "Allow", Action: "iot:Publish", NotResource: `${ARN}:topic/secret` } };
    expect([
      evaluatePolicies([policy], "iot:Publish", `${ARN}:topic/open`, attached),
      evaluatePolicies([policy], "iot:Publish", `${ARN}:topic/secret`, attached),
    ]).toEqual(["allowed", "no-policy-allows"]);
  });
});

describe("parsePolicyDocument", () => {
  it("fails when a statement has no Effect", () => {
    expect(() => parsePolicyDocument(JSON.stringify({ Statement: [{ Action: "iot:Connect", Resource: "*" }] }))).toThrow(/Effect must be Allow or Deny/);
  });

  it("fails when a condition operator is one the engine cannot evaluate", () => {
    expect(() =>
      parsePolicyDocument(
        JSON.stringify({
          Statement: [{ Effect: "Allow", Action: "iot:Connect", Resource: "*", Condition: { DateGreaterThan: { "aws:CurrentTime": "2020" } } }],
        }),
      ),
    ).toThrow(/DateGreaterThan/);
  });
});
