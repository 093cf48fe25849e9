/** The layout's import rules (design.md): what each folder may depend on. */
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

test("reusable modules never depend on deployable stacks", () => {
  expect(violations("modules", ["stacks", "functions", "device", "local"])).toEqual([]);
});

test("stacks import provider classes by deep path, never the barrel", () => {
  const barrel = ["stacks", "modules"].flatMap((folder) =>
    sourceFiles(join(ROOT, folder)).filter((file) => importsOf(file).includes("@cdktf/provider-aws")).map((file) => relative(ROOT, file)),
  );
  expect(barrel).toEqual([]);
});
