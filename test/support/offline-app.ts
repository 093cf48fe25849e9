import { App } from "cdktf";
import { loadConfig } from "../../config";
import type { EnvironmentConfig } from "../../config/types";
import { defineStacks } from "../../main";
import { deploymentOrder } from "../../scripts/stack-order";
import { scratchDir } from "./scratch";

/**
 * Synthesizes the whole app in offline mode into a fresh temp dir; returns the dir and the stack ids in order.
 * `config` overrides the environment's settings (e.g. an opt-in alert channel).
 */
export function synthOfflineApp(envName = "dev", config: EnvironmentConfig = loadConfig(envName)): { outdir: string; stacks: string[] } {
  const outdir = scratchDir(`shf-offline-${envName}-`);
  const app = new App({ outdir });
  defineStacks(app, { config, offline: true });
  app.synth();
  return { outdir, stacks: deploymentOrder(app) };
}
