import { EnvironmentConfig } from "./types";

/** Development: one account, cheap settings, alerts to the team. Replace the account id with yours. */
export const dev: EnvironmentConfig = {
  name: "dev",
  accountId: "111111111111",
  region: "eu-west-1",
  availabilityZones: ["eu-west-1a", "eu-west-1b"],
  namePrefix: "shf-dev",
  tags: { owner: "platform-team", "cost-center": "smart-home" },
  alertEmails: ["iot-alerts-dev@example.com"],
  deviceTypes: ["thermostat", "smart-plug", "sensor-hub"],
  network: { vpcCidr: "10.20.0.0/16" },
  controller: { instanceType: "t4g.nano", rootVolumeGiB: 8, initialImageTag: "latest-release" },
  ecr: { keepImages: 20, untaggedExpiryDays: 7 },
  logRetentionDays: 14,
  telemetry: {
    hotRetentionDays: 90,
    warmRetentionDays: 730,
    thresholds: [
      { metric: "co2_ppm", operator: ">", value: 1500 },
      { metric: "temperature_c", operator: ">", value: 35 },
      { metric: "cpuTemperatureC", operator: ">", value: 80 },
    ],
    dashboardOrigins: ["http://localhost:5173"],
  },
  github: { owner: "smart-home", repository: "smart-home-fleet-iac", applyBranch: "main", environment: "dev", controllerRepository: "smart-home/smart-home-controller" },
};
