/** Topic rules, keep-alive clamping and provisioning routing of the front end, without any server. */
import * as cbor from "cbor";
import { effectiveKeepAlive, isValidTopicFilter, isValidTopicName, topicMatchesFilter } from "../../../local/iot-core/mqtt-codes";
import { answerProvisioningRequest, decodePayload, parseProvisioningTopic } from "../../../local/iot-core/provisioning-topics";
import { LocalCa } from "../../../local/pki";
import { FakeIdentityPlane } from "./fake-identity-plane";

describe("topic names and filters", () => {
  test.each(["devices/pi/commands", "$aws/things/pi/jobs/notify", "/leading", "a//b"])("GIVEN %s WHEN checked as a topic name THEN it is valid", (topic) => {
    expect(isValidTopicName(topic)).toBe(true);
  });

  test.each(["", "devices/+/commands", "devices/#", "a\u0000b"])("fails when %j is used as a topic name", (topic) => {
    expect(isValidTopicName(topic)).toBe(false);
  });

  test.each(["#", "+", "devices/+/commands", "devices/#", "$aws/certificates/create-from-csr/json/+"])(
    "GIVEN %s WHEN checked as a filter THEN it is valid",
    (filter) => {
      expect(isValidTopicFilter(filter)).toBe(true);
    },
  );

  test.each(["", "devices/#/x", "devices/a+", "devices/#x"])("fails when %j is used as a topic filter", (filter) => {
    expect(isValidTopicFilter(filter)).toBe(false);
  });

  test("GIVEN wildcards WHEN matched THEN + is one level and # the rest, including the parent", () => {
    expect(topicMatchesFilter("devices/+/commands", "devices/pi/commands")).toBe(true);
    expect(topicMatchesFilter("devices/+/commands", "devices/pi/x/commands")).toBe(false);
    expect(topicMatchesFilter("devices/#", "devices")).toBe(true);
    expect(topicMatchesFilter("devices/pi", "devices/pi/commands")).toBe(false);
  });

  test("GIVEN a $ topic WHEN a filter starts with a wildcard THEN it does not match", () => {
    expect(topicMatchesFilter("#", "$aws/certificates/create-from-csr/json/accepted")).toBe(false);
    expect(topicMatchesFilter("+/certificates/#", "$aws/certificates/create-from-csr/json/accepted")).toBe(false);
    expect(topicMatchesFilter("$aws/#", "$aws/certificates/create-from-csr/json/accepted")).toBe(true);
  });
});

describe("keep-alive", () => {
  test("GIVEN requested keep-alives WHEN applied THEN they are clamped into AWS's 30..1200 s and 0 means 1200", () => {
    expect([0, 5, 30, 60, 1200, 5000].map(effectiveKeepAlive)).toEqual([1200, 30, 30, 60, 1200, 1200]);
  });
});

describe("provisioning topics", () => {
  test("GIVEN AWS's request topics WHEN parsed THEN kind, format and template are recognised", () => {
    expect(parseProvisioningTopic("$aws/certificates/create-from-csr/json")).toMatchObject({ kind: "create-from-csr", format: "json" });
    expect(parseProvisioningTopic("$aws/certificates/create/cbor")).toMatchObject({ kind: "create-keys", format: "cbor" });
    expect(parseProvisioningTopic("$aws/provisioning-templates/fleet/provision/json")).toMatchObject({ kind: "register-thing", templateName: "fleet" });
  });

  test.each([
    "$aws/certificates/create-from-csr/json/accepted",
    "$aws/certificates/create-from-csr/xml",
    "$aws/provisioning-templates/+/provision/json",
    "devices/x/commands",
  ])("fails when %s is taken for a provisioning request", (topic) => {
    expect(parseProvisioningTopic(topic)).toBeUndefined();
  });

  test.each([
    ["json", Buffer.from("[1,2]")],
    ["json", Buffer.from('"text"')],
    ["cbor", Buffer.from([0xff, 0x00])],
    ["cbor", cbor.encode([1, 2])],
  ] as const)("fails when a %s payload is not a map", (format, payload) => {
    expect(decodePayload(format, payload)).toBeUndefined();
  });

  test("fails when RegisterThing parameters are not all strings: rejected 400 InvalidPayload and the plane is not called", async () => {
    const plane = new FakeIdentityPlane(await LocalCa.create());
    const request = parseProvisioningTopic("$aws/provisioning-templates/smart-home-fleet/provision/json")!;
    const answer = await answerProvisioningRequest(
      plane,
      { clientId: "provision-x", certificateId: "c" },
      request,
      Buffer.from(JSON.stringify({ certificateOwnershipToken: "t", parameters: { SerialNumber: 7 } })),
    );
    expect(answer.topic).toBe("$aws/provisioning-templates/smart-home-fleet/provision/json/rejected");
    expect(JSON.parse(answer.payload.toString())).toMatchObject({ statusCode: 400, errorCode: "InvalidPayload" });
    expect(plane.provisioningCalls).toEqual([]);
  });
});
