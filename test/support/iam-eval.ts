// The evaluator lives with the policy gate, which uses it for the pull-request-role rule.
export * from "../../modules/policy-gate/iam-eval";
