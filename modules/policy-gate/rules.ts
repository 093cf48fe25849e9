/** The rule pack: every rule the gate runs, in the order the README lists them. */
import { Rule } from "./rule";
import { storageRules } from "./rules-storage";
import { networkRules } from "./rules-network";
import { lambdaRules } from "./rules-lambda";
import { apiRules } from "./rules-api";
import { iamRules } from "./rules-iam";
import { secretsRules } from "./rules-secrets";
import { iotRules } from "./rules-iot";

export const RULES: readonly Rule[] = [...storageRules, ...networkRules, ...lambdaRules, ...apiRules, ...iamRules, ...secretsRules, ...iotRules];

const ids = RULES.map((r) => r.id);
const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
if (duplicate) throw new Error(`policy gate: rule id ${duplicate} is defined twice`);

export function ruleById(id: string): Rule | undefined {
  return RULES.find((r) => r.id === id);
}
