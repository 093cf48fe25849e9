/**
 * Evaluates an AWS IoT fleet provisioning template body (the synthesized `template_body`) with the
 * request's parameters, as AWS does before it touches the registry: parameters with their defaults,
 * intrinsic functions, resource conditions, then one plan of what to create or update.
 *
 * Supported, following AWS IoT's "Provisioning templates" guide: `Parameters` (with `Default`),
 * `Mappings`, `Conditions`, `DeviceConfiguration`; `Ref`, `Fn::Join`, `Fn::Select`, `Fn::Split`,
 * `Fn::Sub`, `Fn::FindInMap`, `Fn::If`, `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not`; resources
 * `AWS::IoT::Thing` (with `OverrideSettings`), `AWS::IoT::Certificate` (by `CertificateId`) and
 * `AWS::IoT::Policy` (by `PolicyName`). A template using anything else is refused with a clear error
 * rather than half-applied.
 */

export type OverrideMode = "MERGE" | "REPLACE" | "DO_NOTHING";

export interface ProvisioningPlan {
  readonly thing?: {
    readonly thingName: string;
    readonly thingTypeName?: string;
    readonly thingGroups: readonly string[];
    readonly attributes: Readonly<Record<string, string>>;
    /** What to do with each field when the thing exists already. AWS's default is DO_NOTHING. */
    readonly overrides: { readonly attributes: OverrideMode; readonly thingTypeName: OverrideMode; readonly thingGroups: OverrideMode };
  };
  readonly certificate?: { readonly certificateId: string; readonly status: "ACTIVE" | "INACTIVE" };
  readonly policyNames: readonly string[];
  readonly deviceConfiguration: Readonly<Record<string, string>>;
}

/** A template the request cannot be run with; becomes a `/rejected` answer. */
export class TemplateError extends Error {
  constructor(
    readonly errorCode: "InvalidParameters" | "InvalidTemplate",
    message: string,
  ) {
    super(message);
  }
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

interface TemplateBody {
  Parameters?: Record<string, { Type?: string; Default?: Json }>;
  Mappings?: Record<string, Record<string, Record<string, Json>>>;
  Conditions?: Record<string, Json>;
  Resources?: Record<string, { Type: string; Condition?: string; Properties?: Record<string, Json>; OverrideSettings?: Record<string, string> }>;
  DeviceConfiguration?: Record<string, Json>;
}

/**
 * The plan for one RegisterThing. `parameters` are the device's parameters with the hook's overrides
 * applied; `system` are AWS's own (`AWS::IoT::Certificate::Id`, ...), which a device cannot override.
 */
export function evaluateProvisioningTemplate(
  templateBody: string,
  parameters: Readonly<Record<string, string>>,
  system: Readonly<Record<string, string>>,
): ProvisioningPlan {
  let body: TemplateBody;
  try {
    body = JSON.parse(templateBody) as TemplateBody;
  } catch (err) {
    throw new TemplateError("InvalidTemplate", `The template body is not JSON: ${(err as Error).message}`);
  }
  const values: Record<string, Json> = {};
  for (const [name, spec] of Object.entries(body.Parameters ?? {})) {
    // `AWS::...` parameters are AWS's to fill (certificate id, subject fields); a device never supplies them.
    const given = name.startsWith("AWS::") ? system[name] : parameters[name];
    if (given !== undefined) values[name] = given;
    else if (spec.Default !== undefined) values[name] = spec.Default;
    else throw new TemplateError("InvalidParameters", `Missing value for the template parameter ${name}`);
  }
  const evaluator = new Evaluator(values, body);
  const plan: { thing?: ProvisioningPlan["thing"]; certificate?: ProvisioningPlan["certificate"]; policyNames: string[] } = { policyNames: [] };

  for (const [logicalId, resource] of Object.entries(body.Resources ?? {})) {
    if (resource.Condition !== undefined && !evaluator.condition(resource.Condition)) continue;
    const props = (evaluator.value(resource.Properties ?? {}) ?? {}) as Record<string, Json>;
    switch (resource.Type) {
      case "AWS::IoT::Thing": {
        const override = (field: string): OverrideMode => {
          const mode = resource.OverrideSettings?.[field] ?? "DO_NOTHING";
          if (mode !== "MERGE" && mode !== "REPLACE" && mode !== "DO_NOTHING")
            throw new TemplateError("InvalidTemplate", `${logicalId}: OverrideSettings.${field} = ${mode}`);
          return mode;
        };
        plan.thing = {
          thingName: asString(props.ThingName, `${logicalId}.ThingName`),
          thingTypeName: props.ThingTypeName === undefined ? undefined : asString(props.ThingTypeName, `${logicalId}.ThingTypeName`),
          thingGroups: asArray(props.ThingGroups ?? [], `${logicalId}.ThingGroups`).map((g, i) => asString(g, `${logicalId}.ThingGroups[${i}]`)),
          attributes: Object.fromEntries(
            Object.entries(asObject(props.AttributePayload ?? {}, `${logicalId}.AttributePayload`)).map(([k, v]) => [
              k,
              asString(v, `${logicalId}.AttributePayload.${k}`),
            ]),
          ),
          overrides: { attributes: override("AttributePayload"), thingTypeName: override("ThingTypeName"), thingGroups: override("ThingGroups") },
        };
        break;
      }
      case "AWS::IoT::Certificate": {
        if (props.CertificateId === undefined)
          throw new TemplateError("InvalidTemplate", `${logicalId}: the twin provisions certificates by CertificateId only`);
        const status = String(props.Status ?? "ACTIVE").toUpperCase();
        if (status !== "ACTIVE" && status !== "INACTIVE")
          throw new TemplateError("InvalidTemplate", `${logicalId}: Status ${status} must be Active or Inactive`);
        plan.certificate = { certificateId: asString(props.CertificateId, `${logicalId}.CertificateId`), status };
        break;
      }
      case "AWS::IoT::Policy":
        if (props.PolicyName === undefined) throw new TemplateError("InvalidTemplate", `${logicalId}: the twin attaches existing policies by PolicyName only`);
        plan.policyNames.push(asString(props.PolicyName, `${logicalId}.PolicyName`));
        break;
      default:
        throw new TemplateError("InvalidTemplate", `${logicalId}: resource type ${resource.Type} is not supported`);
    }
  }
  const deviceConfiguration = Object.fromEntries(
    Object.entries(asObject(evaluator.value(body.DeviceConfiguration ?? {}) ?? {}, "DeviceConfiguration")).map(([k, v]) => [
      k,
      asString(v, `DeviceConfiguration.${k}`),
    ]),
  );
  return { ...plan, deviceConfiguration };
}

class Evaluator {
  constructor(
    private readonly params: Readonly<Record<string, Json>>,
    private readonly body: TemplateBody,
  ) {}

  condition(name: string): boolean {
    const definition = this.body.Conditions?.[name];
    if (definition === undefined) throw new TemplateError("InvalidTemplate", `Condition ${name} is not defined`);
    return this.value(definition) === true;
  }

  value(node: Json | undefined): Json | undefined {
    if (Array.isArray(node)) return node.map((n) => this.value(n) ?? null);
    if (node === null || typeof node !== "object") return node;
    const keys = Object.keys(node);
    if (keys.length === 1 && (keys[0] === "Ref" || keys[0]!.startsWith("Fn::") || keys[0] === "Condition")) return this.intrinsic(keys[0]!, node[keys[0]!]!);
    return Object.fromEntries(keys.map((k) => [k, this.value(node[k]) ?? null]));
  }

  private intrinsic(fn: string, arg: Json): Json {
    switch (fn) {
      case "Ref": {
        const name = asString(arg, "Ref");
        if (!(name in this.params)) throw new TemplateError("InvalidTemplate", `Ref to unknown parameter ${name}`);
        return this.params[name]!;
      }
      case "Condition":
        return this.condition(asString(arg, "Condition"));
      case "Fn::Join": {
        const [sep, items] = asArray(arg, fn);
        return asArray(this.value(items), fn)
          .map((v) => asString(v, fn))
          .join(asString(sep, fn));
      }
      case "Fn::Select": {
        const [index, items] = asArray(arg, fn);
        const list = asArray(this.value(items), fn);
        const i = Number(this.value(index));
        if (!Number.isInteger(i) || i < 0 || i >= list.length) throw new TemplateError("InvalidParameters", `Fn::Select index ${String(i)} is out of range`);
        return list[i]!;
      }
      case "Fn::Split": {
        const [sep, source] = asArray(arg, fn);
        return asString(this.value(source), fn).split(asString(sep, fn));
      }
      case "Fn::Sub":
        return asString(typeof arg === "string" ? arg : null, fn).replace(/\$\{([^}]+)\}/g, (_w, name: string) => asString(this.intrinsic("Ref", name), fn));
      case "Fn::FindInMap": {
        const [map, top, second] = asArray(arg, fn).map((a) => asString(this.value(a), fn));
        const found = this.body.Mappings?.[map!]?.[top!]?.[second!];
        if (found === undefined) throw new TemplateError("InvalidParameters", `Fn::FindInMap found nothing for ${map}.${top}.${second}`);
        return found;
      }
      case "Fn::If": {
        const [name, whenTrue, whenFalse] = asArray(arg, fn);
        return this.value(this.condition(asString(name, fn)) ? whenTrue : whenFalse) ?? null;
      }
      case "Fn::Equals": {
        const [a, b] = asArray(arg, fn).map((v) => this.value(v));
        return JSON.stringify(a) === JSON.stringify(b);
      }
      case "Fn::And":
        return asArray(arg, fn).every((c) => this.value(c) === true);
      case "Fn::Or":
        return asArray(arg, fn).some((c) => this.value(c) === true);
      case "Fn::Not":
        return this.value(asArray(arg, fn)[0]) !== true;
      default:
        throw new TemplateError("InvalidTemplate", `Intrinsic function ${fn} is not supported`);
    }
  }
}

function asString(v: Json | undefined, where: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new TemplateError("InvalidParameters", `${where} must be a string, got ${JSON.stringify(v)}`);
}

function asArray(v: Json | undefined, where: string): Json[] {
  if (Array.isArray(v)) return v;
  throw new TemplateError("InvalidTemplate", `${where} must be a list`);
}

function asObject(v: Json | undefined, where: string): Record<string, Json> {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) return v;
  throw new TemplateError("InvalidTemplate", `${where} must be an object`);
}
