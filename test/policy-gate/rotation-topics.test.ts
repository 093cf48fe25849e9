/**
 * IOT-DATA-OWN-TOPICS lets a device policy reach AWS's certificate-rotation API, whose topics carry no
 * thing name, but only exactly that: the JSON create-from-csr topics and the JSON provisioning topics
 * of a template that no claim policy reaches. Everything wider is still refused.
 */
import { ruleById } from "../../modules/policy-gate/rules";
import { StackView } from "../../modules/policy-gate/stack-view";
import { IOT, THING, iotPolicy, isAttached, variant, type Fixture } from "./fixture-kit";

const CLAIM_TEMPLATE = "pi-provisioning";
const ROTATION_TEMPLATE = "pi-rotation";

/** A device policy that also reaches `topics` (Publish on the requests, Subscribe/Receive on the answers). */
function deviceWith(...topics: string[]): Fixture["pass"] {
  return variant(
    iotPolicy(
      { effect: "Allow", actions: ["iot:Connect"], resources: [`${IOT}:client/${THING}`], condition: isAttached },
      { effect: "Allow", actions: ["iot:Publish"], resources: [`${IOT}:topic/devices/${THING}/telemetry`, ...topics.map((t) => `${IOT}:topic/${t}`)] },
    ),
    (t) =>
      (t.resource.aws_iot_provisioning_template = {
        claim: { name: CLAIM_TEMPLATE, template_body: "{}" },
        rotation: { name: ROTATION_TEMPLATE, template_body: "{}" },
      }),
  );
}

/** The claim policy of the same app: it reaches the claim template only. */
const claimStack = iotPolicy(
  { effect: "Allow", actions: ["iot:Connect"], resources: [`${IOT}:client/provision-*`] },
  { effect: "Allow", actions: ["iot:Publish"], resources: [`${IOT}:topic/$aws/provisioning-templates/${CLAIM_TEMPLATE}/provision/json`] },
);

function findings(stack: Fixture["pass"]): string[] {
  const others = [new StackView("claim", claimStack)];
  return ruleById("IOT-DATA-OWN-TOPICS")!
    .check(new StackView("device", stack, () => others))
    .map((f) => f.detail);
}

test("GIVEN the rotation API topics exactly THEN the device policy passes", () => {
  const rotation = `$aws/provisioning-templates/${ROTATION_TEMPLATE}/provision/json`;
  expect(
    findings(deviceWith("$aws/certificates/create-from-csr/json", "$aws/certificates/create-from-csr/json/accepted", rotation, `${rotation}/rejected`)),
  ).toEqual([]);
});

test.each([
  ["the claim template (a provisioned Pi could re-provision as any registered serial)", `$aws/provisioning-templates/${CLAIM_TEMPLATE}/provision/json`],
  ["a wildcard over the certificate API", "$aws/certificates/create-from-csr/*"],
  ["the CBOR or keys-and-certificate variants", "$aws/certificates/create/json"],
  ["a wildcard template", "$aws/provisioning-templates/*/provision/json"],
  ["a template the app does not define", "$aws/provisioning-templates/someone-elses/provision/json"],
  ["another reserved topic", "$aws/things/other-thing/shadow/update"],
])("GIVEN a device policy reaching %s THEN it fails", (_what, topic) => {
  expect(findings(deviceWith(topic))).toEqual([expect.stringContaining("not scoped to the thing")]);
});
