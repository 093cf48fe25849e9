// ESLint (flat config): typescript-eslint's recommended rules, without type information so that
// `npm run lint` stays fast; `tsc --noEmit` does the type checking.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const nodeGlobals = Object.fromEntries(
  ["require", "module", "exports", "process", "console", "__dirname", "__filename", "Buffer", "setTimeout", "clearTimeout"].map((name) => [name, "readonly"]),
);

export default tseslint.config(
  { ignores: ["node_modules/", "cdktf.out/", "dist/", "coverage/", ".gen/", ".local-twin/", "**/.terraform/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // `_name` marks a parameter an interface requires but this implementation does not use.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true, caughtErrors: "none" }],
    },
  },
  {
    // Tests read untyped JSON (synthesized Terraform, HTTP bodies, plans) field by field; production code may not.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["**/*.js", "**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: nodeGlobals },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
