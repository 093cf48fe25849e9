/** The shape of one policy-gate rule and of what it reports. */
import { Element, StackView } from "./stack-view";

/** Ids of the same check in other tools, or "none" when no such check exists there. */
export interface Equivalents {
  readonly checkov: string;
  readonly trivy: string;
  readonly cdkNag: string;
  /** AWS IoT Device Defender audit check. */
  readonly deviceDefender: string;
}

export interface Finding {
  /** Terraform address of the offending resource (or data source) in its stack. */
  readonly address: string;
  /** What is wrong with this resource, in one sentence. */
  readonly detail: string;
}

export interface Rule {
  /** Stable id, FAMILY-WHAT, used by suppressions. */
  readonly id: string;
  readonly family: string;
  /** What a compliant stack does. */
  readonly title: string;
  /** Why it matters. */
  readonly why: string;
  /** How to fix a violation. */
  readonly fix: string;
  readonly equivalents: Equivalents;
  check(view: StackView): Finding[];
}

/** Shorthand for a finding on an element. */
export function finding(element: Element | string, detail: string): Finding {
  return { address: typeof element === "string" ? element : element.address, detail };
}

export const NONE: Equivalents = { checkov: "none", trivy: "none", cdkNag: "none", deviceDefender: "none" };

export function equivalents(partial: Partial<Equivalents>): Equivalents {
  return { ...NONE, ...partial };
}
