import { EnvironmentConfig } from "./types";

/** GitHub repositories of this fleet, the same for every environment. */
const repositories = { owner: "smart-home", repository: "smart-home-fleet-iac", applyBranch: "main", controllerRepository: "smart-home/smart-home-controller" };

/**
 * Settings every environment shares unless it says otherwise: one place for the region, the device
 * types, the controller size and the telemetry rules, so dev and prod cannot drift by accident.
 */
export const shared = {
  region: "eu-west-1",
  availabilityZones: ["eu-west-1a", "eu-west-1b"],
  tags: { owner: "platform-team", "cost-center": "smart-home" },
  deviceTypes: ["thermostat", "smart-plug", "sensor-hub"],
  controller: { instanceType: "t4g.nano", rootVolumeGiB: 8, initialImageTag: "latest-release" },
  // Channels are opt-in (README "Alert channels"): a channel's secret is created empty, so a channel nobody filled
  // in would send every alert to the forwarder's dead letters and page. Add `{ kind: "slack", name: "ops" }` or
  // `{ kind: "webhook", name: "pager" }` here (or in dev.ts / prod.ts) once its URL is ready to be put in.
  alerts: { channels: [], budget: { alertsPerDevice: 20, windowMinutes: 60 } },
  provisioning: { leaseSeconds: 600, denialAlarm: { threshold: 20, periodMinutes: 5 } },
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
} satisfies Partial<EnvironmentConfig>;

export function github(environment: string): EnvironmentConfig["github"] {
  return { ...repositories, environment, controllerEnvironment: `${environment}-controller` };
}
