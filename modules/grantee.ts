import type { PolicyStatement } from "./policy-document";

/** Anything that can receive IAM permissions: grants on tables, topics, ... call this. */
export interface Grantee {
  /** Adds an inline policy named `name` with these statements (checked by policyDocument()). */
  addToRolePolicy(name: string, statements: readonly PolicyStatement[]): void;
}
