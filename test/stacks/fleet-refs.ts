/** Stand-ins for what earlier stacks hand to the iot, fleet and api stacks in their unit tests. */
import { RoleRef, TableRef, TopicRef } from "../../modules/refs";
import { IotServiceRoles } from "../../stacks/shared/refs";

const role = (name: string): RoleRef => ({ roleName: name, roleArn: `arn:aws:iam::111111111111:role/${name}` });

export const iotServiceRoles: IotServiceRoles = {
  ruleAction: role("shf-dev-iot-rule-actions"),
  provisioning: role("shf-dev-iot-fleet-provisioning"),
  jobsPresign: role("shf-dev-iot-jobs-presign"),
  logging: role("shf-dev-iot-logging"),
};

export const registryTable: TableRef = {
  tableName: "shf-dev-device-registry",
  tableArn: "arn:aws:dynamodb:eu-west-1:111111111111:table/shf-dev-device-registry",
};

export const alarmTopic: TopicRef = { topicName: "shf-dev-alarms", topicArn: "arn:aws:sns:eu-west-1:111111111111:shf-dev-alarms" };

export const iotDataEndpoint = "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com";

/** Every IoT or IAM action in a list of statements, for "no wildcard" checks. */
export function wildcardActions(statements: readonly { actions: readonly string[] }[]): string[] {
  return statements.flatMap((s) => s.actions).filter((a) => a === "*" || /^[a-z0-9-]+:\*$/.test(a));
}
