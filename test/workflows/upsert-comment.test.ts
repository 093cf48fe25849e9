/**
 * .github/scripts/upsert-pr-comment.sh against a scripted `gh`: one comment per pull request, found by
 * the marker among the bot's own comments and edited in place; created when there is none.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMMENT_MARKER } from "../../scripts/pr-comment";
import { REPO_ROOT } from "./helpers";
import { scratchDir } from "../support/scratch";

const SCRIPT = join(REPO_ROOT, ".github/scripts/upsert-pr-comment.sh");

/** A fake `gh api`: pages of comments from $FAKE_DIR/pages (one JSON array per line), logs writes. */
const FAKE_GH = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_DIR/calls"
if [ "$1 $2" = "api --paginate" ]; then cat "$FAKE_DIR/pages"; exit 0; fi
for a in "$@"; do if [ "$prev" = "--input" ]; then cp "$a" "$FAKE_DIR/sent.json"; fi; prev="$a"; done
echo "https://github.com/o/r/pull/7#issuecomment-1"
`;

function run(pages: unknown[][], body = `${COMMENT_MARKER}\n## Terraform plan\n`) {
  const dir = scratchDir("shf-gh-");
  writeFileSync(join(dir, "gh"), FAKE_GH);
  chmodSync(join(dir, "gh"), 0o755);
  writeFileSync(join(dir, "pages"), pages.map((p) => JSON.stringify(p)).join("\n"));
  writeFileSync(join(dir, "calls"), "");
  writeFileSync(join(dir, "body.md"), body);
  const result = spawnSync("bash", [SCRIPT, join(dir, "body.md")], {
    encoding: "utf8",
    env: { PATH: `${dir}:${process.env.PATH}`, FAKE_DIR: dir, GITHUB_REPOSITORY: "smart-home/smart-home-fleet-iac", PR_NUMBER: "7" },
  });
  const calls = readFileSync(join(dir, "calls"), "utf8").trim().split("\n");
  const sent = (() => {
    try {
      return JSON.parse(readFileSync(join(dir, "sent.json"), "utf8")) as { body: string };
    } catch {
      return undefined;
    }
  })();
  return { code: result.status, stderr: result.stderr, calls, sent };
}

const bot = { login: "github-actions[bot]" };

test("updates the bot's marked comment in place, looking through every page", () => {
  const { code, calls, sent } = run([[{ id: 1, user: bot, body: "unrelated" }], [{ id: 42, user: bot, body: `${COMMENT_MARKER}\nold plan` }]]);
  expect(code).toBe(0);
  expect(calls[0]).toBe("api --paginate repos/smart-home/smart-home-fleet-iac/issues/7/comments");
  expect(calls[1]).toMatch(/^api --method PATCH repos\/smart-home\/smart-home-fleet-iac\/issues\/comments\/42 --input /);
  expect(sent!.body).toBe(`${COMMENT_MARKER}\n## Terraform plan\n`);
});

test("creates the comment when the pull request has none", () => {
  const { code, calls } = run([[{ id: 1, user: { login: "alice" }, body: "LGTM" }]]);
  expect(code).toBe(0);
  expect(calls[1]).toMatch(/^api --method POST repos\/smart-home\/smart-home-fleet-iac\/issues\/7\/comments --input /);
});

test("never edits a person's comment that quotes the marker", () => {
  const { calls } = run([[{ id: 5, user: { login: "alice" }, body: `${COMMENT_MARKER}\ncopied` }]]);
  expect(calls[1]).toContain("--method POST");
});

test("fails when the body does not start with a hidden marker", () => {
  const { code, stderr } = run([[]], "## Terraform plan\n");
  expect(code).toBe(65);
  expect(stderr).toContain("must start with a hidden marker line");
});
