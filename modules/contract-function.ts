import { Construct } from "constructs";
import { BundledFunction } from "./bundled-function";
import { handlerEntry } from "./bundling/bundle";
import type { Grantee } from "./grantee";

/** A setting's value: lists become comma-separated. */
export type SettingValue = string | number | readonly string[];

/**
 * What this construct needs of a function's contract (`functions/<name>/contract.ts`, built with
 * `defineContract`): where the handler is, its timeout, memory, concurrency, its settings' variable
 * names and the builder of its environment.
 */
export interface FunctionContractLike {
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memoryMiB: number;
  /** @default none: the account's unreserved pool */
  readonly reservedConcurrency?: number;
  readonly env: Readonly<Record<string, string>>;
  environment(values: Readonly<Record<string, SettingValue>>): Record<string, string>;
}

/** A table a function is bound to: its name goes into the setting, exactly `actions` are granted. */
export interface TableBinding {
  readonly table: { readonly tableName: string; grant(grantee: Grantee, actions: readonly string[]): void };
  readonly actions: readonly string[];
}

/** A topic a function publishes to: its ARN goes into the setting, `sns:Publish` is granted. */
export interface TopicBinding {
  readonly topicArn: string;
  grantPublish(grantee: Grantee): void;
}

type SettingOf<C extends FunctionContractLike> = keyof C["env"] & string;

export interface ContractFunctionProps<C extends FunctionContractLike> {
  /** The function's contract: handler, timeout, memory, reserved concurrency and settings come from it. */
  readonly contract: C;
  /** Physical function name (stacks/shared/naming.ts). */
  readonly functionName: string;
  /** @default none */
  readonly description?: string;
  /** Days CloudWatch keeps the function's logs (config.logRetentionDays). */
  readonly logRetentionDays: number;
  /** Plain settings (no grant): names, numbers, lists. Settings with a contract default may be left out. @default none */
  readonly settings?: Partial<Record<SettingOf<C>, SettingValue>>;
  /** Settings that name a table: set and granted together. @default none */
  readonly tables?: Partial<Record<SettingOf<C>, TableBinding>>;
  /** Settings that name a topic: set and granted together. @default none */
  readonly topics?: Partial<Record<SettingOf<C>, TopicBinding>>;
  /** Ship a source map and enable it at runtime. @default false */
  readonly sourceMap?: boolean;
}

/**
 * A {@link BundledFunction} deployed exactly as its contract says: the handler, timeout, memory and
 * reserved concurrency from the contract, the environment from the contract's builder (defaults
 * written out, ranges checked, a missing required setting fails synthesis), and each bound table or
 * topic granted in the same place its name is set.
 *
 * @example
 * const fn = new ContractFunction(this, "alert-handler", {
 *   contract: ALERT_HANDLER, functionName: names.alertHandlerFunction, logRetentionDays: config.logRetentionDays,
 *   settings: { environment: config.name },
 *   tables: { alertStateTableName: { table: alertState, actions: ["dynamodb:PutItem"] } },
 *   topics: { alertTopicArn: alerts },
 * });
 */
export class ContractFunction<C extends FunctionContractLike> extends BundledFunction {
  readonly contract: C;

  constructor(scope: Construct, id: string, props: ContractFunctionProps<C>) {
    const { contract } = props;
    super(scope, id, {
      entry: handlerEntry(contract.handler),
      functionName: props.functionName,
      description: props.description,
      logRetentionDays: props.logRetentionDays,
      timeoutSeconds: contract.timeoutSeconds,
      memoryMiB: contract.memoryMiB,
      reservedConcurrency: contract.reservedConcurrency,
      sourceMap: props.sourceMap,
      environment: contract.environment(settingValues(id, props)),
    });
    this.contract = contract;
    for (const binding of bindings(props.tables)) binding.table.grant(this, binding.actions);
    for (const topic of bindings(props.topics)) topic.grantPublish(this);
  }
}

function bindings<T>(record: Partial<Record<string, T>> | undefined): T[] {
  return Object.values(record ?? {}).filter((b): b is T => b !== undefined);
}

/** All values by setting; a setting given twice (e.g. as a plain value and as a table) is refused. */
function settingValues<C extends FunctionContractLike>(id: string, props: ContractFunctionProps<C>): Record<string, SettingValue> {
  const values: Record<string, SettingValue> = {};
  const put = (setting: string, value: SettingValue | undefined) => {
    if (value === undefined) return;
    if (setting in values) throw new Error(`ContractFunction "${id}": setting ${setting} is given more than once; give it once (settings, tables or topics)`);
    values[setting] = value;
  };
  for (const [setting, value] of Object.entries(props.settings ?? {})) put(setting, value as SettingValue | undefined);
  for (const [setting, binding] of Object.entries(props.tables ?? {})) put(setting, (binding as TableBinding | undefined)?.table.tableName);
  for (const [setting, topic] of Object.entries(props.topics ?? {})) put(setting, (topic as TopicBinding | undefined)?.topicArn);
  return values;
}
