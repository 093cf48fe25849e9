import { loadConfig, validateConfig } from "../config";
import { dev } from "../config/dev";

describe("loadConfig", () => {
  test("defaults to the dev environment in eu-west-1", () => {
    const saved = process.env.IOT_ENV;
    delete process.env.IOT_ENV;
    try {
      expect(loadConfig().name).toBe("dev");
      expect(loadConfig().region).toBe("eu-west-1");
    } finally {
      if (saved !== undefined) process.env.IOT_ENV = saved;
    }
  });

  test("loads prod when asked", () => {
    expect(loadConfig("prod").name).toBe("prod");
  });

  test("fails when IOT_ENV names an unknown environment", () => {
    expect(() => loadConfig("staging")).toThrow(/IOT_ENV="staging" is not a known environment; use one of: dev, prod/);
  });
});

describe("validateConfig", () => {
  test.each([
    ["accountId", { accountId: "1234" }, /accountId: "1234" must be a 12-digit AWS account id/],
    ["region", { region: "europe" }, /region: "europe" is not an AWS region/],
    ["availabilityZones", { availabilityZones: ["eu-west-1a"] }, /availabilityZones: needs exactly two zones/],
    ["a zone of another region", { availabilityZones: ["eu-west-1a", "us-east-1b"] }, /availabilityZones\[1\]: "us-east-1b" is not a zone of eu-west-1/],
    ["vpcCidr", { network: { vpcCidr: "10.0.0.0/8" } }, /network.vpcCidr: "10.0.0.0\/8" must be an IPv4 CIDR from \/16 to \/24/],
    ["alertEmails", { alertEmails: [] }, /alertEmails: needs at least one address/],
    ["an alert e-mail", { alertEmails: ["not-an-address"] }, /alertEmails\[0\]: "not-an-address" is not an e-mail address/],
    ["deviceTypes", { deviceTypes: ["Bad Type"] }, /deviceTypes\[0\]: "Bad Type"/],
    ["instanceType", { controller: { ...dev.controller, instanceType: "t3.nano" } }, /controller.instanceType: "t3.nano" must be a Graviton \(arm64\) type/],
    [
      "provisioning.leaseSeconds",
      { provisioning: { ...dev.provisioning, leaseSeconds: 7200 } },
      /provisioning.leaseSeconds: 7200 must be a whole number of seconds from 60 to 3600/,
    ],
    [
      "provisioning.denialAlarm.threshold",
      { provisioning: { ...dev.provisioning, denialAlarm: { threshold: 0, periodMinutes: 5 } } },
      /provisioning.denialAlarm.threshold: 0 must be a whole number of denials >= 1/,
    ],
    [
      "provisioning.denialAlarm.periodMinutes",
      { provisioning: { ...dev.provisioning, denialAlarm: { threshold: 20, periodMinutes: 2.5 } } },
      /provisioning.denialAlarm.periodMinutes: 2.5 must be a whole number of minutes from 1 to 1440/,
    ],
    [
      "an alert channel kind",
      { alerts: { ...dev.alerts, channels: [{ kind: "sms", name: "ops" }] } },
      /alerts.channels\[0\].kind: "sms" must be slack or webhook/,
    ],
    [
      "an alert channel name",
      { alerts: { ...dev.alerts, channels: [{ kind: "slack", name: "Ops Team" }] } },
      /alerts.channels\[0\].name: "Ops Team" must be 1-32 characters \[a-z0-9-\]/,
    ],
    [
      "a repeated alert channel name",
      {
        alerts: {
          ...dev.alerts,
          channels: [
            { kind: "slack", name: "ops" },
            { kind: "webhook", name: "ops" },
          ],
        },
      },
      /alerts.channels\[1\].name: "ops" is used twice/,
    ],
    [
      "alerts.budget.alertsPerDevice",
      { alerts: { ...dev.alerts, budget: { alertsPerDevice: 0, windowMinutes: 60 } } },
      /alerts.budget.alertsPerDevice: 0 must be a whole number from 1 to 10000/,
    ],
    [
      "alerts.budget.windowMinutes",
      { alerts: { ...dev.alerts, budget: { alertsPerDevice: 20, windowMinutes: 0.5 } } },
      /alerts.budget.windowMinutes: 0.5 must be a whole number of minutes from 1 to 10080/,
    ],
    ["logRetentionDays", { logRetentionDays: 10 }, /logRetentionDays: 10 is not a CloudWatch retention/],
    ["namePrefix", { namePrefix: "Shf_Dev" }, /namePrefix: "Shf_Dev"/],
    ["tags", { tags: { "aws:owner": "x" } }, /tags.aws:owner: tag keys .* may not start with aws:/],
    [
      "controllerEnvironment (the apply environment)",
      { github: { ...dev.github, controllerEnvironment: "DEV" } },
      /github.controllerEnvironment: "DEV" must differ from github.environment/,
    ],
    [
      "controllerEnvironment (not a name)",
      { github: { ...dev.github, controllerEnvironment: "dev controller" } },
      /github.controllerEnvironment: must be a GitHub environment name/,
    ],
  ])("fails when %s is bad, naming the setting", (_name, override, message) => {
    expect(() => validateConfig({ ...dev, ...override } as typeof dev)).toThrow(message);
  });

  test("reports every bad setting at once", () => {
    expect(() => validateConfig({ ...dev, accountId: "x", region: "y" })).toThrow(/accountId[\s\S]*region/);
  });

  test("GIVEN the shipped environments THEN controller CD has its own GitHub environment, <env>-controller", () => {
    expect(dev.github).toMatchObject({ environment: "dev", controllerEnvironment: "dev-controller" });
    expect(loadConfig("prod").github).toMatchObject({ environment: "prod", controllerEnvironment: "prod-controller" });
  });

  test("accepts the shipped environments", () => {
    expect(() => validateConfig(dev)).not.toThrow();
    expect(() => validateConfig(loadConfig("prod"))).not.toThrow();
  });
});
