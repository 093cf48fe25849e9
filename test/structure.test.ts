/** The layout's import rules (README "Repository layout"): what each folder may depend on. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(__dirname, "..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from\s+|require\()\s*["']([^"']+)["']/g)].map((m) => m[1]);
}

function violations(folder: string, forbidden: readonly string[]): string[] {
  return sourceFiles(join(ROOT, folder)).flatMap((file) =>
    importsOf(file)
      .filter((spec) => spec.startsWith("."))
      .map((spec) => relative(ROOT, join(file, "..", spec)).split("/")[0])
      .filter((top) => forbidden.includes(top))
      .map((top) => `${relative(ROOT, file)} imports from ${top}/`),
  );
}

test("functions import nothing from modules, stacks, config, device or local", () => {
  expect(violations("functions", ["modules", "stacks", "config", "device", "local", "scripts"])).toEqual([]);
});

test("the device client imports nothing from the cloud side or the twin", () => {
  expect(violations("device", ["functions", "modules", "stacks", "config", "local", "scripts"])).toEqual([]);
});

test("reusable modules never depend on the app: no stacks (nor stacks/shared wiring), config, functions, device or twin", () => {
  expect(violations("modules", ["stacks", "config", "functions", "device", "local", "scripts"])).toEqual([]);
});

test("the app's wiring (names, refs between stacks, the stack base class) lives in stacks/shared, not in modules", () => {
  const wiring = ["naming.ts", "fleet-stack.ts", "identity.ts", "ci-policies.ts", "ci-apply-policies.ts"];
  const inModules = sourceFiles(join(ROOT, "modules")).filter((file) => wiring.includes(file.split("/").pop() ?? ""));
  expect(inModules.map((file) => relative(ROOT, file))).toEqual([]);
});

test("stacks import provider classes by deep path, never the barrel", () => {
  const barrel = ["stacks", "modules"].flatMap((folder) =>
    sourceFiles(join(ROOT, folder))
      .filter((file) => importsOf(file).includes("@cdktf/provider-aws"))
      .map((file) => relative(ROOT, file)),
  );
  expect(barrel).toEqual([]);
});

test("a file in modules/ or stacks/ that holds one class is named after it", () => {
  const kebab = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
  const misnamed = ["modules", "stacks"].flatMap((folder) =>
    sourceFiles(join(ROOT, folder)).flatMap((file) => {
      const classes = [...readFileSync(file, "utf8").matchAll(/^export (?:abstract )?class (\w+)/gm)].map((m) => m[1]);
      const base = file.split("/").pop()!.replace(/\.ts$/, "");
      return classes.length === 1 && kebab(classes[0]) !== base ? [`${relative(ROOT, file)} holds ${classes[0]}`] : [];
    }),
  );
  expect(misnamed).toEqual([]);
});
