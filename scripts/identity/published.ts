/** Reads the public half of an identity, as Terraform published it in its SSM String parameter. */
import { GetParameterCommand, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { PublishedIdentity } from "../../stacks/shared/identity";

/** The published identity, or undefined when Terraform has not published one yet. */
export async function readPublishedIdentity(client: SSMClient, parameterName: string): Promise<PublishedIdentity | undefined> {
  let value: string | undefined;
  try {
    value = (await client.send(new GetParameterCommand({ Name: parameterName }))).Parameter?.Value;
  } catch (error) {
    if (error instanceof ParameterNotFound || (error as Error).name === "ParameterNotFound") return undefined;
    throw error;
  }
  let parsed: Partial<PublishedIdentity>;
  try {
    parsed = JSON.parse(value ?? "") as Partial<PublishedIdentity>;
  } catch {
    throw new Error(`SSM parameter ${parameterName} is not JSON; it is written by Terraform (iot / fleet stack) and should hold {certificatePem, certificateId, endpoint, ...}`);
  }
  if (typeof parsed.certificatePem !== "string" || typeof parsed.certificateId !== "string" || typeof parsed.endpoint !== "string") {
    throw new Error(`SSM parameter ${parameterName} lacks certificatePem, certificateId or endpoint`);
  }
  return parsed as PublishedIdentity;
}
