import { App } from "cdktf";
import { loadConfig } from "../config";
import { defineStacks } from "../main";
import { appDeploymentOrder, deploymentOrder, orderViolations } from "../scripts/stack-order";
import { stackDependencies } from "../scripts/stack-summary";
import { identityRootWithCsrs } from "./support/identity-csrs";
import { synthOfflineApp } from "./support/offline-app";
import { scratchDir } from "./support/scratch";

describe("deployment order", () => {
  test("starts with the state backend and the CI identities, then the user's documented order", () => {
    const order = appDeploymentOrder("dev");
    expect(order.slice(0, 6)).toEqual(["state", "ci", "vpc", "roles", "ecr", "ec2"]);
  });

  test("puts every stack after the stacks it reads from", () => {
    // Offline stacks are independent by design; the real (S3-backend) app carries the cross-stack dependencies.
    const { outdir, stacks } = synthOfflineApp("dev");
    expect(orderViolations(stacks, stackDependencies(outdir))).toEqual([]);
    const app = new App({ outdir: scratchDir("shf-order-") });
    defineStacks(app, { config: loadConfig("dev"), offline: false, identityRoot: identityRootWithCsrs(["dev"]) });
    app.synth();
    const dependencies = stackDependencies(app.outdir);
    expect(dependencies.ec2).toEqual(expect.arrayContaining(["vpc", "roles", "ecr"]));
    expect(orderViolations(deploymentOrder(app), dependencies)).toEqual([]);
  });

  test("fails when a stack would be deployed before a stack it depends on", () => {
    expect(orderViolations(["ec2", "vpc"], { ec2: ["vpc"] })).toEqual(["ec2 depends on vpc, which is deployed after it"]);
  });
});
