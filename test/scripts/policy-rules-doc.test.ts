/** The README's policy rule table is generated from the rules; this fails when someone changes a rule and not the README. */
import { readFileSync } from "node:fs";
import { README, renderRuleTable, withRuleTable } from "../../scripts/policy-rules-doc";
import { RULES } from "../../modules/policy-gate/rules";

test("the README's policy rule table is what npm run docs:policy generates", () => {
  const readme = readFileSync(README, "utf8");
  // When this fails: run `npm run docs:policy` and commit README.md.
  expect(withRuleTable(readme)).toBe(readme);
});

test("the generated table lists every rule with its equivalents", () => {
  const table = renderRuleTable();
  for (const rule of RULES) expect(table).toContain(`| \`${rule.id}\` |`);
  expect(table).toContain("| `EC2-IMDSV2` |");
});

test("fails when the README lost its markers", () => {
  expect(() => withRuleTable("# no markers here")).toThrow(/has no/);
});
