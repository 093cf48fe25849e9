/**
 * Operator CLI for firmware rollouts (AWS IoT Jobs + the firmware bucket). Every command takes `--json`.
 *
 *   npm run ota -- upload --file build/fw.tar.gz --version 1.4.0
 *   npm run ota -- deploy --version 1.4.0 --canary shf-dev-ota-canary --target shf-dev-thermostat [--promote-when-succeeded 100]
 *   npm run ota -- status <job>     per-device states, success rate, the fleet's versions
 *   npm run ota -- list | cancel <job> [--force] | promote <canary-job> [--target <group>] | retry <job>
 *
 * IOT_ENV picks the environment (names come from config); AWS credentials and region as usual;
 * `AWS_ENDPOINT_URL_IOT` / `AWS_ENDPOINT_URL_S3` point it at the local twin.
 */
import { CreateJobCommand, IoTClient } from "@aws-sdk/client-iot";
import { S3Client } from "@aws-sdk/client-s3";
import { Command, CommanderError, Option } from "commander";
import { EnvironmentConfig, loadConfig } from "../config";
import { firmwareDocument, uploadFirmware, validateUpload } from "./ota/firmware";
import {
  DEFAULT_ROLLOUT,
  RolloutSettings,
  cancelJob,
  createJobInput,
  groupArn,
  jobStatus,
  listFirmwareJobs,
  promote,
  retryFailed,
  rolloutJobId,
  validateGroup,
  validateRollout,
  watchCanary,
} from "./ota/rollout";
import { formatStatus } from "./ota/format";

export interface OtaCliDeps {
  readonly config: EnvironmentConfig;
  readonly iot: IoTClient;
  readonly s3: S3Client;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A refusal of the operator's input: exit code 2 and the reasons. */
class UsageError extends Error {}

const integer =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got "${value}"`);
    return n;
  };

function rolloutOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--rollout-per-minute <n>", "executions started per minute")
        .argParser(integer("--rollout-per-minute"))
        .default(DEFAULT_ROLLOUT.rolloutPerMinute),
    )
    .addOption(
      new Option("--abort-failed-percent <p>", "cancel the job when this share failed or timed out")
        .argParser(integer("--abort-failed-percent"))
        .default(DEFAULT_ROLLOUT.abortFailedPercent),
    )
    .addOption(
      new Option("--abort-min-executed <n>", "executions finished before the abort threshold applies")
        .argParser(integer("--abort-min-executed"))
        .default(DEFAULT_ROLLOUT.abortMinExecuted),
    )
    .addOption(
      new Option("--in-progress-timeout-minutes <m>", "an execution still IN_PROGRESS after this is TIMED_OUT")
        .argParser(integer("--in-progress-timeout-minutes"))
        .default(DEFAULT_ROLLOUT.inProgressTimeoutMinutes),
    )
    .addOption(
      new Option("--retries <n>", "automatic retries of FAILED / TIMED_OUT executions (0-10)").argParser(integer("--retries")).default(DEFAULT_ROLLOUT.retries),
    );
}

function settingsOf(o: Record<string, unknown>): RolloutSettings {
  const s: RolloutSettings = {
    rolloutPerMinute: o.rolloutPerMinute as number,
    abortFailedPercent: o.abortFailedPercent as number,
    abortMinExecuted: o.abortMinExecuted as number,
    inProgressTimeoutMinutes: o.inProgressTimeoutMinutes as number,
    retries: o.retries as number,
  };
  const problems = validateRollout(s);
  if (problems.length > 0) throw new UsageError(problems.join("\n"));
  return s;
}

/** Build the CLI; `run` parses argv and resolves with the exit code. */
export function otaCli(deps: OtaCliDeps): { run(argv: readonly string[]): Promise<number> } {
  const now = deps.now ?? (() => new Date());
  const print = (json: boolean, value: unknown, text: string): void => deps.out(json ? JSON.stringify(value) : text);
  let exitCode = 0;

  const program = new Command("ota")
    .description("Firmware rollouts on AWS IoT Jobs")
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.out(s.trimEnd()), writeErr: (s) => deps.err(s.trimEnd()) });

  program
    .command("upload")
    .description("upload a firmware image as a version (S3 checks its SHA-256)")
    .requiredOption("--file <path>", "firmware image")
    .requiredOption("--version <semver>", "firmware version")
    .option("--json", "machine-readable output")
    .action(async (o: { file: string; version: string; json?: boolean }) => {
      const problems = validateUpload(o.file, o.version);
      if (problems.length > 0) throw new UsageError(`Cannot upload firmware:\n  - ${problems.join("\n  - ")}`);
      const r = await uploadFirmware(deps.config, o.file, o.version, deps.s3);
      print(
        !!o.json,
        { version: o.version, objectKey: r.objectKey, sha256: r.document.sha256, size: r.document.size },
        `uploaded ${o.version}: ${r.objectKey} sha256 ${r.document.sha256} (${r.document.size} bytes)`,
      );
    });

  rolloutOptions(
    program
      .command("deploy")
      .description("create the canary job, watch it, then create the fleet job (or one job without --canary)")
      .requiredOption("--version <semver>", "an uploaded firmware version")
      .requiredOption("--target <group>", "thing group of the fleet")
      .option("--canary <group>", "thing group updated first")
      .addOption(
        new Option("--promote-when-succeeded <percent>", "canary success needed to promote").argParser(integer("--promote-when-succeeded")).default(100),
      )
      .option("--no-wait", "create the canary and exit; run promote later")
      .addOption(new Option("--watch-timeout-minutes <m>", "give up watching the canary after this").argParser(integer("--watch-timeout-minutes")).default(60))
      .addOption(new Option("--poll-seconds <s>", "canary polling interval").argParser(integer("--poll-seconds")).default(15))
      .option("--json", "machine-readable output"),
  ).action(async (o: Record<string, unknown>) => {
    const settings = settingsOf(o);
    const target = o.target as string;
    const canary = o.canary as string | undefined;
    const percent = o.promoteWhenSucceeded as number;
    const problems = [...validateGroup("--target", target), ...(canary !== undefined ? validateGroup("--canary", canary) : [])];
    if (!(percent > 0 && percent <= 100)) problems.push(`--promote-when-succeeded must be in (0, 100], got ${percent}`);
    if (problems.length > 0) throw new UsageError(problems.join("\n"));
    const document = await firmwareDocument(deps.config, o.version as string, deps.s3);
    const json = !!o.json;
    if (!canary) {
      const jobId = rolloutJobId(document.version, now(), "single");
      await deps.iot.send(
        new CreateJobCommand(
          createJobInput(deps.config, { jobId, targets: [groupArn(deps.config, target)], continuous: true, document, settings, stage: "single" }),
        ),
      );
      print(json, { jobId, version: document.version, target }, `created ${jobId} for ${target}`);
      return;
    }
    const canaryJobId = rolloutJobId(document.version, now(), "canary");
    await deps.iot.send(
      new CreateJobCommand(
        createJobInput(deps.config, {
          jobId: canaryJobId,
          targets: [groupArn(deps.config, canary)],
          continuous: false,
          document,
          settings,
          stage: "canary",
          fleetTarget: target,
        }),
      ),
    );
    if (!json) deps.out(`created canary ${canaryJobId} for ${canary}`);
    if (o.wait === false) {
      print(json, { canaryJobId, promoted: false }, `run later: npm run ota -- promote ${canaryJobId}`);
      return;
    }
    const watched = await watchCanary(deps.iot, canaryJobId, {
      percent,
      pollMs: (o.pollSeconds as number) * 1000,
      timeoutMs: (o.watchTimeoutMinutes as number) * 60_000,
      sleep: deps.sleep,
      onProgress: (s) => json || deps.out(`canary: ${s.succeeded}/${s.total} succeeded, ${s.failed} failed`),
    });
    if (watched.verdict !== "met") {
      exitCode = 1;
      print(
        json,
        { canaryJobId, promoted: false, verdict: watched.verdict, canary: watched.summary },
        `canary ${watched.verdict === "failed" ? "failed" : "still running"}: not promoted (status: npm run ota -- status ${canaryJobId})`,
      );
      return;
    }
    const p = await promote(deps.iot, deps.config, canaryJobId, { target, settings });
    print(json, { canaryJobId, promoted: true, fleetJobId: p.jobId, canary: watched.summary }, `promoted: created ${p.jobId} for ${target}`);
  });

  program
    .command("status <job>")
    .description("per-device execution states, success rate and the fleet's firmware versions")
    .option("--json", "machine-readable output")
    .action(async (job: string, o: { json?: boolean }) => {
      const report = await jobStatus(deps.iot, job);
      print(!!o.json, report, formatStatus(report));
    });

  program
    .command("list")
    .description("firmware jobs")
    .option("--status <status>", "IN_PROGRESS | COMPLETED | CANCELED | DELETION_IN_PROGRESS | SCHEDULED")
    .option("--json", "machine-readable output")
    .action(async (o: { status?: string; json?: boolean }) => {
      const jobs = await listFirmwareJobs(deps.iot, o.status);
      print(!!o.json, { jobs }, jobs.map((j) => `${j.jobId.padEnd(48)} ${j.status.padEnd(12)} ${j.createdAt ?? ""}`).join("\n") || "no firmware jobs");
    });

  program
    .command("cancel <job>")
    .description("cancel a job (queued executions; with --force also those in progress)")
    .option("--force", "also cancel executions already IN_PROGRESS")
    .option("--comment <text>", "why")
    .option("--json", "machine-readable output")
    .action(async (job: string, o: { force?: boolean; comment?: string; json?: boolean }) => {
      await cancelJob(deps.iot, job, { force: !!o.force, comment: o.comment });
      print(!!o.json, { jobId: job, canceled: true, force: !!o.force }, `canceled ${job}`);
    });

  rolloutOptions(
    program
      .command("promote <canaryJob>")
      .description("create the fleet job of a canary (the target is remembered on the canary)")
      .option("--target <group>", "fleet group (default: the canary's ota:fleet-target tag)")
      .option("--json", "machine-readable output"),
  ).action(async (canaryJob: string, o: Record<string, unknown>) => {
    const p = await promote(deps.iot, deps.config, canaryJob, { target: o.target as string | undefined, settings: settingsOf(o) });
    print(
      !!o.json,
      { canaryJobId: canaryJob, fleetJobId: p.jobId, target: p.target, alreadyPromoted: p.alreadyPromoted },
      `${p.alreadyPromoted ? "already promoted" : "promoted"}: ${p.jobId} for ${p.target}`,
    );
  });

  rolloutOptions(
    program.command("retry <job>").description("a new job for the things whose executions FAILED or TIMED_OUT").option("--json", "machine-readable output"),
  ).action(async (job: string, o: Record<string, unknown>) => {
    const r = await retryFailed(deps.iot, deps.config, job, { settings: settingsOf(o), now: now() });
    print(
      !!o.json,
      r,
      r.jobId ? `created ${r.jobId} for ${r.things.length} thing(s): ${r.things.join(", ")}` : `nothing to retry: no FAILED or TIMED_OUT executions in ${job}`,
    );
  });

  return {
    async run(argv) {
      exitCode = 0;
      try {
        await program.parseAsync([...argv], { from: "user" });
        return exitCode;
      } catch (err) {
        if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
        const message = err instanceof Error ? err.message : String(err);
        const code = err instanceof UsageError ? 2 : 1;
        deps.err(message);
        // Scripts that asked for JSON get the failure as JSON too.
        if (argv.includes("--json"))
          deps.out(JSON.stringify({ ok: false, error: message, ...(err instanceof Error && code === 1 ? { errorType: err.name } : {}) }));
        return code;
      }
    },
  };
}

if (require.main === module) {
  const config = loadConfig();
  otaCli({
    config,
    iot: new IoTClient({ region: config.region }),
    s3: new S3Client({ region: config.region, ...(process.env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {}) }),
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  })
    .run(process.argv.slice(2))
    .then((code) => process.exit(code));
}
