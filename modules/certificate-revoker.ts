import { Construct } from "constructs";
import { FunctionAlarms } from "./alarms";
import { ContractFunction, FunctionContractLike } from "./contract-function";
import { FleetTable } from "./fleet-table";
import { TopicRef } from "./refs";
import { StreamConsumer } from "./stream-consumer";

/** The revoker's contract (`functions/revoke-certificates/contract.ts`): the settings this construct fills. */
export interface RevokerContract extends FunctionContractLike {
  readonly env: { readonly environment: string; readonly registryTableName: string; readonly namePrefix: string };
}

export interface CertificateRevokerProps {
  /** `REVOKE_CERTIFICATES`. */
  readonly contract: RevokerContract;
  /** Lambda event filters of the stream (`REVOCATION_STREAM_FILTERS`). */
  readonly filterPatterns: readonly string[];
  /** The device registry; it must have been created with `stream: true`. */
  readonly registry: FleetTable;
  /** Physical name of the function (and its role and log group). */
  readonly functionName: string;
  /** Queue that keeps the stream batches the function could not handle. */
  readonly deadLetterQueueName: string;
  /** Alarm on the first dead letter. */
  readonly deadLetterAlarmName: string;
  /** `ENVIRONMENT` of the function (config.name). */
  readonly environment: string;
  readonly namePrefix: string;
  readonly logRetentionDays: number;
  /** ARN of an IoT resource in this account and region, e.g. `iotArn("thing/*")`. */
  readonly iotArn: (resource: string) => string;
  /** Where the dead-letter alarm notifies. */
  readonly alarmTopic: TopicRef;
  /** Shared log metric its error-level lines count into (LambdaAccountAlarms alarms on it; Errors and Throttles too). */
  readonly errorLogsMetricName: string;
}

/**
 * Revocation that takes effect: the registry's stream drives the `revoke-certificates` function, which
 * revokes and detaches the certificates of revoked and re-provisioned devices. It is the only identity
 * with IoT certificate rights (the registration API stays table-only): revoke and detach certificates,
 * list and detach thing principals; read the registry row. Retries, a dead-letter queue and alarms
 * make sure an IoT throttle loses nothing.
 */
export class CertificateRevoker extends Construct {
  readonly function: ContractFunction<RevokerContract>;
  readonly stream: StreamConsumer;

  constructor(scope: Construct, id: string, props: CertificateRevokerProps) {
    super(scope, id);
    const { registry } = props;
    if (!registry.streamArn) {
      throw new Error(`CertificateRevoker "${id}": the registry table ${registry.tableName} has no stream; create it with stream: true`);
    }
    this.function = new ContractFunction(this, "function", {
      contract: props.contract,
      functionName: props.functionName,
      description: "Registry stream: revokes and detaches the IoT certificates of revoked and re-provisioned devices",
      logRetentionDays: props.logRetentionDays,
      settings: { environment: props.environment, namePrefix: props.namePrefix },
      tables: { registryTableName: { table: registry, actions: ["dynamodb:GetItem"] } },
    });
    this.function.addToRolePolicy("iot-certificates", [
      { sid: "ThingPrincipals", actions: ["iot:ListThingPrincipals", "iot:DetachThingPrincipal"], resources: [props.iotArn("thing/*")] },
      { sid: "Certificates", actions: ["iot:UpdateCertificate", "iot:ListAttachedPolicies", "iot:DetachPolicy"], resources: [props.iotArn("cert/*")] },
    ]);
    this.stream = new StreamConsumer(this, "stream", {
      function: this.function,
      streamArn: registry.streamArn,
      deadLetterQueueName: props.deadLetterQueueName,
      deadLetterAlarmName: props.deadLetterAlarmName,
      topic: props.alarmTopic,
      filterPatterns: props.filterPatterns,
    });
    // Partial batch failures are answers, not errors: the error-log alarm sees them.
    new FunctionAlarms(this, "alarms", {
      function: this.function,
      topic: props.alarmTopic,
      errorLog: { logGroupName: this.function.logGroupName, metricName: props.errorLogsMetricName },
    });
  }
}
