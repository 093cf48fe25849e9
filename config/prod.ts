import { EnvironmentConfig } from "./types";

/** Production: its own account, longer log retention, applies behind the `prod` GitHub environment. */
export const prod: EnvironmentConfig = {
  name: "prod",
  accountId: "222222222222",
  region: "eu-west-1",
  availabilityZones: ["eu-west-1a", "eu-west-1b"],
  namePrefix: "shf-prod",
  tags: { owner: "platform-team", "cost-center": "smart-home" },
  alertEmails: ["iot-alerts@example.com"],
  deviceTypes: ["thermostat", "smart-plug", "sensor-hub"],
  network: { vpcCidr: "10.30.0.0/16" },
  controller: { instanceType: "t4g.nano", rootVolumeGiB: 8, initialImageTag: "latest-release" },
  ecr: { keepImages: 50, untaggedExpiryDays: 7 },
  logRetentionDays: 90,
  telemetry: {
    hotRetentionDays: 90,
    warmRetentionDays: 730,
    thresholds: [
      { metric: "co2_ppm", operator: ">", value: 1500 },
      { metric: "temperature_c", operator: ">", value: 35 },
      { metric: "cpuTemperatureC", operator: ">", value: 80 },
    ],
    dashboardOrigins: [],
  },
  github: { owner: "smart-home", repository: "smart-home-fleet-iac", applyBranch: "main", environment: "prod", controllerRepository: "smart-home/smart-home-controller" },
};
