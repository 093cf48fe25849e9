/**
 * .github/scripts/ssm-deploy-controller.sh against a scripted `aws` CLI: deploy through SSM Run
 * Command, wait for the result, roll back when the new container is not healthy, and fail the run.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./helpers";
import { scratchDir } from "../support/scratch";

const SCRIPT = join(REPO_ROOT, ".github/scripts/ssm-deploy-controller.sh");
const SHA = "0123456789abcdef0123456789abcdef01234567";

/** A fake `aws`: logs every call; SSM answers InProgress once per command, then the scripted status. */
const FAKE_AWS = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_DIR/calls"
arg() { local want="$1" prev=""; shift; for a in "$@"; do [ "$prev" = "$want" ] && { printf '%s' "$a"; return; }; prev="$a"; done; }
case "$1 $2" in
  "ec2 describe-instances") printf '%s\\n' "$FAKE_INSTANCES" ;;
  "ssm send-command")
    if [[ "$(arg --parameters "$@")" == *"deploy-controller "* ]]; then echo cmd-deploy; else echo cmd-rollback; fi ;;
  "ssm get-command-invocation")
    cmd="$(arg --command-id "$@")"
    if [ "$(arg --query "$@")" = Status ]; then
      if [ ! -e "$FAKE_DIR/seen-$cmd" ]; then touch "$FAKE_DIR/seen-$cmd"; echo InProgress; exit 0; fi
      if [ "$cmd" = cmd-rollback ]; then echo "$FAKE_ROLLBACK_STATUS"
      elif [ -n "$FAKE_UNHEALTHY" ] && [[ " $FAKE_UNHEALTHY " != *" $(arg --instance-id "$@") "* ]]; then echo Success
      else echo "$FAKE_DEPLOY_STATUS"; fi
    else
      printf 'output of %s\\tcontroller logs\\n' "$cmd"
    fi ;;
  *) echo "unexpected aws $*" >&2; exit 1 ;;
esac
`;

function run(options: { deploy?: string; rollback?: string; instances?: string; unhealthy?: string; tag?: string } = {}) {
  const dir = scratchDir("shf-ssm-");
  writeFileSync(join(dir, "aws"), FAKE_AWS);
  chmodSync(join(dir, "aws"), 0o755);
  writeFileSync(join(dir, "calls"), "");
  const summaryFile = join(dir, "summary.md");
  const result = spawnSync("bash", [SCRIPT], {
    encoding: "utf8",
    env: {
      PATH: `${dir}:${process.env.PATH}`,
      FAKE_DIR: dir,
      FAKE_INSTANCES: options.instances ?? "i-0abc",
      FAKE_DEPLOY_STATUS: options.deploy ?? "Success",
      FAKE_ROLLBACK_STATUS: options.rollback ?? "Success",
      FAKE_UNHEALTHY: options.unhealthy ?? "",
      AWS_REGION: "eu-west-1",
      CONTROLLER_TAG: "shf-dev-controller",
      IMAGE_TAG: options.tag ?? SHA,
      POLL_SECONDS: "0",
      GITHUB_STEP_SUMMARY: summaryFile,
    },
  });
  const calls = readFileSync(join(dir, "calls"), "utf8").trim().split("\n").filter(Boolean);
  const summary = (() => {
    try {
      return readFileSync(summaryFile, "utf8");
    } catch {
      return "";
    }
  })();
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, calls, summary };
}

const sends = (calls: string[]) => calls.filter((c) => c.startsWith("ssm send-command"));

test("deploys the SHA on the instances tagged Role=<prefix>-controller and succeeds when healthy", () => {
  const { code, calls, summary } = run();
  expect(code).toBe(0);
  expect(calls[0]).toContain(
    "ec2 describe-instances --region eu-west-1 --filters Name=tag:Role,Values=shf-dev-controller Name=instance-state-name,Values=running",
  );
  expect(sends(calls)).toHaveLength(1);
  expect(sends(calls)[0]).toContain("--document-name AWS-RunShellScript --instance-ids i-0abc");
  expect(sends(calls)[0]).toContain(`"commands":["/usr/local/bin/deploy-controller ${SHA}"]`);
  // It waited: asked for the status until it was final.
  expect(calls.filter((c) => c.includes("--query Status")).length).toBe(2);
  expect(summary).toContain(`✅ \`${SHA}\` is running and healthy.`);
});

test("fails when the new container is not healthy, after rolling back to the last healthy image", () => {
  const { code, calls, stdout, summary } = run({ deploy: "Failed" });
  expect(code).toBe(1);
  expect(sends(calls)).toHaveLength(2);
  // deploy-controller with no tag redeploys the current (last healthy) tag.
  expect(sends(calls)[1]).toContain('"commands":["/usr/local/bin/deploy-controller"]');
  expect(sends(calls)[1]).toContain("--instance-ids i-0abc");
  expect(stdout).toContain(`::error title=Controller not healthy::${SHA} was not healthy on i-0abc; rolled back to the previous image`);
  expect(summary).toContain("the previous image is running again");
  expect(summary).toContain("output of cmd-deploy");
});

test("fails loudly when the rollback fails too", () => {
  const { code, stdout, summary } = run({ deploy: "TimedOut", rollback: "Failed" });
  expect(code).toBe(1);
  expect(stdout).toContain("::error title=Controller rollback failed::");
  expect(summary).toContain("the controller may be down");
});

test("rolls back only the instances where the deploy failed", () => {
  const { code, calls } = run({ deploy: "Failed", instances: "i-0abc\ti-0def", unhealthy: "i-0def" });
  expect(code).toBe(1);
  expect(sends(calls)[0]).toContain("--instance-ids i-0abc i-0def");
  expect(sends(calls)[1]).toContain("--instance-ids i-0def --comment");
});

test("fails when no running instance carries the controller tag", () => {
  const { code, stdout, calls } = run({ instances: "" });
  expect(code).toBe(2);
  expect(stdout).toContain("no running EC2 instance is tagged Role=shf-dev-controller");
  expect(sends(calls)).toHaveLength(0);
});

test("fails when the image tag is not a valid tag, before calling AWS", () => {
  const { code, calls } = run({ tag: "bad tag;rm -rf /" });
  expect(code).toBe(2);
  expect(calls).toEqual([]);
});
