import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { identityCsrFile, loadIdentityCsr, PLACEHOLDER_CSR_FILE, REPOSITORY_ROOT } from "../../../stacks/shared/identity";
import { csrCommonName, csrFingerprint } from "../../../scripts/identity/keys";
import { throwawayCsr } from "../../support/identity-csrs";
import { throwawayEcKeyPem } from "../../support/pem";
import { scratchDir } from "../../support/scratch";

const placeholder = readFileSync(join(REPOSITORY_ROOT, PLACEHOLDER_CSR_FILE), "utf8");

function rootWith(content?: string, kind: "controller" | "claim" = "controller"): string {
  const root = scratchDir("shf-csr-");
  if (content !== undefined) {
    const file = join(root, identityCsrFile("prod", kind));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return root;
}

describe("loadIdentityCsr", () => {
  test("GIVEN a committed CSR WHEN synthesizing online THEN it is used as is", () => {
    const csr = throwawayCsr("prod-claim");
    expect(loadIdentityCsr({ envName: "prod", kind: "claim", offline: false, root: rootWith(csr, "claim") })).toEqual({ pem: csr, placeholder: false });
  });

  test("GIVEN no CSR WHEN synthesizing offline THEN the placeholder is used", () => {
    expect(loadIdentityCsr({ envName: "prod", kind: "controller", offline: true, root: rootWith() })).toEqual({ pem: placeholder, placeholder: true });
  });

  test("fails when the CSR is missing online, naming the file and the exact command", () => {
    expect(() => loadIdentityCsr({ envName: "prod", kind: "controller", offline: false, root: rootWith() })).toThrow(
      'No CSR for the controller identity of environment "prod" (identity/prod/controller.csr.pem). Run `IOT_ENV=prod npm run identity -- create controller`',
    );
  });

  test("fails when the placeholder was copied in as an environment's CSR online, naming rotate", () => {
    const root = rootWith();
    mkdirSync(join(root, "identity", "prod"), { recursive: true });
    copyFileSync(join(REPOSITORY_ROOT, PLACEHOLDER_CSR_FILE), join(root, identityCsrFile("prod", "controller")));
    expect(() => loadIdentityCsr({ envName: "prod", kind: "controller", offline: false, root })).toThrow("npm run identity -- rotate controller");
  });

  test("fails when the file is not a PEM certificate request (e.g. a private key pasted by mistake)", () => {
    const root = rootWith(throwawayEcKeyPem());
    expect(() => loadIdentityCsr({ envName: "prod", kind: "controller", offline: false, root })).toThrow("is not a PEM certificate signing request");
  });
});

describe("placeholder CSR", () => {
  test("is a valid, self-signed CSR whose subject says it is a placeholder with a discarded key", async () => {
    await expect(csrFingerprint(placeholder)).resolves.toMatch(/^[0-9a-f]{64}$/);
    expect(csrCommonName(placeholder)).toBe("PLACEHOLDER offline plans only - private key discarded");
  });
});
