import { Construct } from "constructs";
import { TerraformOutput } from "cdktf";
import { EcrRepository } from "@cdktf/provider-aws/lib/ecr-repository";
import { EcrLifecyclePolicy } from "@cdktf/provider-aws/lib/ecr-lifecycle-policy";
import { FleetStack, FleetStackProps } from "./shared/fleet-stack";
import { RepositoryRef } from "../modules/refs";

/**
 * The controller image repository. It outlives every other stack ("do not need to delete if we need
 * to destroy"): destroying the other stacks leaves it alone, and destroying this one is refused.
 */
export class EcrStack extends FleetStack {
  readonly repository: RepositoryRef;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props);
    const { keepImages, untaggedExpiryDays } = this.config.ecr;

    const repository = new EcrRepository(this, "controller-repository", {
      name: this.names.controllerRepository,
      // Tags are commit SHAs: a tag always means the same image, so rollbacks are exact.
      imageTagMutability: "IMMUTABLE",
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: [{ encryptionType: "AES256" }],
      forceDelete: false,
      lifecycle: { preventDestroy: true },
    });

    new EcrLifecyclePolicy(this, "controller-lifecycle", {
      repository: repository.name,
      policy: JSON.stringify(lifecycleRules(keepImages, untaggedExpiryDays)),
    });

    this.repository = this.share<RepositoryRef>(
      { repositoryName: repository.name, repositoryArn: repository.arn, repositoryUrl: repository.repositoryUrl },
      {
        repositoryName: this.names.controllerRepository,
        repositoryArn: this.arn("ecr", `repository/${this.names.controllerRepository}`),
        repositoryUrl: `${this.config.accountId}.dkr.ecr.${this.config.region}.amazonaws.com/${this.names.controllerRepository}`,
      },
    );

    new TerraformOutput(this, "repository-url", { value: repository.repositoryUrl, description: "Push the controller image here (tag = commit SHA)" });
  }
}

/** ECR lifecycle rules: untagged layers go after a few days, only the newest `keep` images stay. */
export function lifecycleRules(keep: number, untaggedDays: number) {
  return {
    rules: [
      {
        rulePriority: 1,
        description: `Expire untagged images after ${untaggedDays} days`,
        selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: untaggedDays },
        action: { type: "expire" },
      },
      {
        rulePriority: 2,
        description: `Keep the last ${keep} images`,
        selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keep },
        action: { type: "expire" },
      },
    ],
  };
}
