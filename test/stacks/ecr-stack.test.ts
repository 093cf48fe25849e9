import { EcrRepository } from "@cdktf/provider-aws/lib/ecr-repository";
import { EcrStack, lifecycleRules } from "../../stacks/ecr-stack";
import { resourcesOf, synthStack } from "../support/synth";

const synth = () => synthStack((app, props) => new EcrStack(app, "ecr", props));

describe("EcrStack", () => {
  test("scans on push, keeps tags immutable and encrypts images", () => {
    expect(synth().json).toHaveResourceWithProperties(EcrRepository, {
      name: "shf-dev-controller",
      image_tag_mutability: "IMMUTABLE",
      image_scanning_configuration: { scan_on_push: true },
      encryption_configuration: [{ encryption_type: "AES256" }],
    });
  });

  test("is kept when the other stacks are destroyed and refuses its own destroy", () => {
    const repository = Object.values(resourcesOf(synth(), "aws_ecr_repository"))[0];
    expect(repository.lifecycle).toEqual({ prevent_destroy: true });
    expect(repository.force_delete).toBe(false);
  });

  test("expires untagged images first, then keeps the configured number of images", () => {
    const policy = JSON.parse(String(Object.values(resourcesOf(synth(), "aws_ecr_lifecycle_policy"))[0].policy));
    expect(policy).toEqual(lifecycleRules(20, 7));
    expect(policy.rules[0].selection).toMatchObject({ tagStatus: "untagged", countNumber: 7 });
    expect(policy.rules[1].selection).toMatchObject({ countType: "imageCountMoreThan", countNumber: 20 });
  });
});
