import { github, shared } from "./shared";
import { EnvironmentConfig } from "./types";

/** Development: its own account, cheap settings, alerts to the team. Replace the account id with yours. */
export const dev: EnvironmentConfig = {
  ...shared,
  name: "dev",
  accountId: "111111111111",
  namePrefix: "shf-dev",
  alertEmails: ["iot-alerts-dev@example.com"],
  network: { vpcCidr: "10.20.0.0/16" },
  ecr: { keepImages: 20, untaggedExpiryDays: 7 },
  logRetentionDays: 14,
  telemetry: { ...shared.telemetry, dashboardOrigins: ["http://localhost:5173"] },
  github: github("dev"),
};
