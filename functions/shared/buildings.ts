/**
 * Per-building authorization for the telemetry functions.
 *
 * A device belongs to the building in `metadata.buildingId` of its registry row (set at
 * registration). A dashboard user belongs to the buildings of their Cognito groups named
 * `building-<buildingId>`: only administrators can change group membership (unlike custom
 * attributes, which a user may be able to write), and groups are in access tokens as
 * `cognito:groups`.
 *
 * No SDK or schema library here, so the WebSocket authorizer bundle stays small; the registry
 * lookup and the zod schema are in `building-registry.ts`.
 */

export const BUILDING_GROUP_PREFIX = "building-";

/** 1 to 64 characters [A-Za-z0-9_.-], starting with a letter or digit. */
export const BUILDING_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A user in more groups than this is cut off here (Cognito allows far more, a dashboard needs far fewer). */
export const MAX_BUILDINGS_PER_USER = 100;

/**
 * Group names from a `cognito:groups` claim in each shape it arrives in: an array (a verified JWT),
 * the `"[a b c]"` string API Gateway HTTP APIs make of array claims, or a comma-separated string.
 */
export function groupsFromClaim(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === "string" && g.length > 0);
  if (typeof value !== "string") return [];
  const trimmed = value.trim();
  const inner = trimmed.startsWith("[") && trimmed.endsWith("]") ? trimmed.slice(1, -1) : trimmed;
  return inner.split(/[\s,]+/).filter((g) => g.length > 0);
}

/** Building ids of `building-<id>` groups, sorted and unique; other groups and malformed ids are ignored. */
export function buildingsFromGroups(groups: readonly string[], prefix: string = BUILDING_GROUP_PREFIX): string[] {
  const ids = new Set<string>();
  for (const group of groups) {
    if (!group.startsWith(prefix)) continue;
    const id = group.slice(prefix.length);
    if (BUILDING_ID_PATTERN.test(id)) ids.add(id);
  }
  return [...ids].sort().slice(0, MAX_BUILDINGS_PER_USER);
}

/** The caller's building ids from JWT claims (`cognito:groups`). */
export function buildingsFromClaims(claims: Readonly<Record<string, unknown>> | undefined): string[] {
  return buildingsFromGroups(groupsFromClaim(claims?.["cognito:groups"]));
}

/** The building a registry row names in `metadata.buildingId`, if it is a valid building id. */
export function buildingOfItem(item: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const metadata = item?.metadata;
  if (typeof metadata !== "object" || metadata === null) return undefined;
  const id = (metadata as Record<string, unknown>).buildingId;
  return typeof id === "string" && BUILDING_ID_PATTERN.test(id) ? id : undefined;
}
