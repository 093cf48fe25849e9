/**
 * One source per name: every AWS name derived from `namePrefix` is built in stacks/shared/naming.ts
 * (`resourceNames`). Anywhere else in the app, the scripts and the twin, the prefix may be passed on
 * as a value (e.g. to the functions' reserved-serial check) but never turned into a name.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(__dirname, "..");
const SCANNED = ["main.ts", "stacks", "modules", "scripts", "local"];
const NAMING_MODULE = "stacks/shared/naming.ts";

function sourceFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return path.endsWith(".ts") ? [path] : [];
  return readdirSync(path).flatMap((name) => sourceFiles(join(path, name)));
}

/**
 * Lines that build a name from the prefix: `${...namePrefix...}` in a template, string concatenation
 * with it, or an alias (`const p = config.namePrefix`, `const { namePrefix } = config`) that exists
 * only to build templates.
 */
function namePrefixTemplates(source: string): string[] {
  const patterns = [
    /\$\{[^}]*\bnamePrefix\b[^}]*\}/,
    /\bnamePrefix\s*\+|\+\s*[\w.]*\bnamePrefix\b/,
    /\b(?:const|let|var)\s+\w+\s*=\s*[\w.?]*\bnamePrefix\b\s*[;,\n]/,
    /\b(?:const|let|var)\s*\{[^}]*\bnamePrefix\b[^}]*\}\s*=/,
  ];
  return source.split("\n").filter((line) => patterns.some((pattern) => pattern.test(line)));
}

describe("the namePrefix guard", () => {
  test("GIVEN a template on config.namePrefix WHEN scanned THEN it is reported", () => {
    expect(namePrefixTemplates("const name = `${config.namePrefix}-ota-canary`;")).toHaveLength(1);
  });

  test("GIVEN an alias of the prefix WHEN scanned THEN the alias is reported", () => {
    expect(namePrefixTemplates("    const p = this.config.namePrefix;\n    roleName: `${p}-x`,")).toEqual(["    const p = this.config.namePrefix;"]);
  });

  test("GIVEN a destructured prefix WHEN scanned THEN it is reported", () => {
    expect(namePrefixTemplates("const { namePrefix } = config;")).toHaveLength(1);
  });

  test("GIVEN string concatenation with the prefix WHEN scanned THEN it is reported", () => {
    expect(namePrefixTemplates('const name = config.namePrefix + "-alerts";')).toHaveLength(1);
  });

  test("GIVEN the prefix passed on as a value WHEN scanned THEN nothing is reported", () => {
    expect(namePrefixTemplates("        namePrefix: config.namePrefix,\n  name: names.otaCanaryGroup,")).toEqual([]);
  });
});

test(`GIVEN ${SCANNED.join(", ")} WHEN searched for names built from namePrefix THEN only ${NAMING_MODULE} builds them`, () => {
  const found = SCANNED.flatMap((entry) => sourceFiles(join(ROOT, entry)))
    .filter((file) => relative(ROOT, file) !== NAMING_MODULE)
    .flatMap((file) => namePrefixTemplates(readFileSync(file, "utf8")).map((line) => `${relative(ROOT, file)}: ${line.trim()}`));
  expect(found).toEqual([]);
});

test(`GIVEN the naming module WHEN scanned THEN the guard sees its templates (it would catch a copy elsewhere)`, () => {
  expect(namePrefixTemplates(readFileSync(join(ROOT, NAMING_MODULE), "utf8")).length).toBeGreaterThan(0);
});
