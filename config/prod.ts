import { github, shared } from "./shared";
import { EnvironmentConfig } from "./types";

/** Production: its own account, longer log retention, applies behind the `prod` GitHub environment. */
export const prod: EnvironmentConfig = {
  ...shared,
  name: "prod",
  accountId: "222222222222",
  namePrefix: "shf-prod",
  alertEmails: ["iot-alerts@example.com"],
  network: { vpcCidr: "10.30.0.0/16" },
  ecr: { keepImages: 50, untaggedExpiryDays: 7 },
  logRetentionDays: 90,
  github: github("prod"),
};
