/**
 * Grouping without moving: a `FlatScope` is a construct whose id is left out of the Terraform
 * addresses of what it holds, so a stack's subsystems can become constructs of their own without a
 * destroy-and-recreate (or a `moved` block) for every resource already deployed.
 *
 * A stack opts in by overriding `allocateLogicalId` with {@link FlatAddresses}:
 *
 * ```ts
 * class MyStack extends TerraformStack {
 *   private addresses?: FlatAddresses;
 *   allocateLogicalId(element: TerraformElement | Node): string {
 *     return (this.addresses ??= new FlatAddresses()).logicalId(this, element, (node) => super.allocateLogicalId(node));
 *   }
 * }
 * new WarmStore(stack, "warm-store", ...)   // extends FlatScope: its bucket keeps the address `warm-bucket`
 * ```
 */
import { Construct, type IConstruct, type Node } from "constructs";
import { TerraformElement, type TerraformStack } from "cdktf";

const FLAT = Symbol.for("smart-home-fleet.FlatScope");

export class FlatScope extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    Object.defineProperty(this, FLAT, { value: true });
  }

  static isFlatScope(x: IConstruct): boolean {
    return (x as unknown as Record<symbol, unknown>)[FLAT] === true;
  }
}

/**
 * A stack's address book: the logical id `allocate` (the stack's default scheme) gives an element's
 * path with every FlatScope left out, or the id pinned for that exact path. Throws when two elements
 * would share one id.
 */
export class FlatAddresses {
  private readonly seen = new Map<string, string>();
  private readonly pinned = new Map<string, string>();

  /** Give the element at `path` (e.g. `telemetry/telemetry-table/table`) the address `id`; call before creating it. */
  pin(path: string, id: string): void {
    this.pinned.set(path, id);
  }

  logicalId(stack: TerraformStack, element: TerraformElement | Node, allocate: (node: Node) => string): string {
    const node = TerraformElement.isTerraformElement(element) ? element.node : element;
    const scopes = node.scopes.filter((s) => !FlatScope.isFlatScope(s));
    // The default scheme reads only `scopes` (the path from the root), so a node-shaped view suffices.
    const id = this.pinned.get(node.path) ?? (scopes.length === node.scopes.length ? allocate(node) : allocate({ scopes } as unknown as Node));
    const owner = this.seen.get(id);
    if (owner !== undefined && owner !== node.path)
      throw new Error(`${stack.node.id}: ${node.path} and ${owner} would share the Terraform address ${id}; rename one`);
    this.seen.set(id, node.path);
    return id;
  }
}
