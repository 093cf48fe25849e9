/** `GET /devices` of the registration API against dynalite: filters, pages, and refused queries. */
import { encodeToken } from "../../functions/register-device/listing";
import type { RunningDynalite } from "../support/dynalite";
import { ALLOWED_DEVICE_TYPES, apiEvent, clearTable, putItem, registeredDevice, useHandler } from "./helpers";

type RegisterModule = typeof import("../../functions/register-device");

const h = useHandler<RegisterModule>(
  "../../functions/register-device",
  (db: RunningDynalite) => ({
    REGISTRY_TABLE_NAME: db.registryTableName,
    ALLOWED_DEVICE_TYPES,
    NAME_PREFIX: "shf-test",
    ENVIRONMENT: "test",
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
  }),
  { beforeEachTest: (db) => clearTable(db.client, db.registryTableName, "serialNumber") },
);

function list(query: Record<string, string> | null, multi: Record<string, string[]> | null = null): Promise<{ status: number; body: any }> {
  const event = apiEvent("GET", "/devices", undefined, { headers: {}, queryStringParameters: query, multiValueQueryStringParameters: multi });
  return h.mod.handler(event, { awsRequestId: "req-1" }).then((r) => ({ status: r.statusCode, body: JSON.parse(r.body) }));
}

async function seed(rows: [serial: string, status: string, deviceType: string][]): Promise<void> {
  for (const [serial, status, deviceType] of rows) {
    await putItem(h.db.client, h.db.registryTableName, registeredDevice(serial, { status, deviceType, provisioningTokenSha256: "c".repeat(64) }));
  }
}

/** Every serial over all pages of a query, following nextToken. */
async function allPages(query: Record<string, string>): Promise<{ serials: string[]; pages: number }> {
  const serials: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const res = await list({ ...query, ...(token ? { nextToken: token } : {}) });
    expect(res.status).toBe(200);
    serials.push(...res.body.devices.map((d: { serialNumber: string }) => d.serialNumber));
    token = res.body.nextToken;
    pages += 1;
  } while (token && pages < 50);
  return { serials, pages };
}

describe("GET /devices", () => {
  test("GIVEN registered devices WHEN listed with no filter THEN every device is returned, without token hashes", async () => {
    await seed([
      ["LIST-0001", "REGISTERED", "thermostat"],
      ["LIST-0002", "PROVISIONED", "smart-plug"],
    ]);

    const res = await list(null);

    expect(res.status).toBe(200);
    expect(res.body.devices.map((d: { serialNumber: string }) => d.serialNumber).sort()).toEqual(["LIST-0001", "LIST-0002"]);
    expect(res.body.devices[0]).toHaveProperty("hasProvisioningToken", true);
    expect(JSON.stringify(res.body)).not.toContain("c".repeat(64));
    expect(res.body).not.toHaveProperty("nextToken");
  });

  test("GIVEN devices of several statuses WHEN filtered by status=REVOKED THEN only revoked ones are returned", async () => {
    await seed([
      ["STAT-0001", "REVOKED", "thermostat"],
      ["STAT-0002", "PROVISIONED", "thermostat"],
      ["STAT-0003", "REVOKED", "smart-plug"],
    ]);

    const res = await list({ status: "REVOKED" });

    expect(res.body.devices.map((d: { serialNumber: string }) => d.serialNumber).sort()).toEqual(["STAT-0001", "STAT-0003"]);
  });

  test("GIVEN devices of several types WHEN filtered by status and deviceType (any case) THEN both filters apply", async () => {
    await seed([
      ["BOTH-0001", "REVOKED", "thermostat"],
      ["BOTH-0002", "REVOKED", "smart-plug"],
      ["BOTH-0003", "PROVISIONED", "smart-plug"],
    ]);

    const res = await list({ status: "REVOKED", deviceType: "Smart-Plug" });

    expect(res.body.devices.map((d: { serialNumber: string }) => d.serialNumber)).toEqual(["BOTH-0002"]);
  });

  test("GIVEN 7 devices WHEN listed with limit=3 THEN the pages hold each device exactly once", async () => {
    const rows = Array.from({ length: 7 }, (_, i) => [`PAGE-${String(i).padStart(4, "0")}`, "REGISTERED", "thermostat"] as [string, string, string]);
    await seed(rows);

    const { serials, pages } = await allPages({ limit: "3" });

    expect(serials.sort()).toEqual(rows.map(([s]) => s).sort());
    expect(pages).toBe(3);
  });

  test("GIVEN a filter that skips most rows WHEN paged with limit=2 THEN no matching device is skipped or repeated", async () => {
    const rows = Array.from(
      { length: 12 },
      (_, i) => [`SKIP-${String(i).padStart(4, "0")}`, i % 3 === 0 ? "REVOKED" : "PROVISIONED", "thermostat"] as [string, string, string],
    );
    await seed(rows);

    const { serials } = await allPages({ status: "REVOKED", limit: "2" });

    expect(serials.sort()).toEqual(
      rows
        .filter(([, s]) => s === "REVOKED")
        .map(([s]) => s)
        .sort(),
    );
  });

  test("fails when status is not a registry status: 400 naming status", async () => {
    const res = await list({ status: "STOLEN" });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: "status" })]);
  });

  test("fails when limit is above 100: 400 naming limit", async () => {
    const res = await list({ limit: "1000" });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: "limit" })]);
  });

  test("fails when limit is not a whole number: 400", async () => {
    expect((await list({ limit: "2.5" })).status).toBe(400);
  });

  test("fails when nextToken was not issued by the API: 400 naming nextToken", async () => {
    const forged = Buffer.from(JSON.stringify({ s: { S: "x" } })).toString("base64url");
    const res = await list({ nextToken: forged });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: "nextToken" })]);
  });

  test("fails when an unknown parameter is given: 400", async () => {
    expect((await list({ owner: "me" })).status).toBe(400);
  });

  test("fails when a parameter is repeated: 400 naming it", async () => {
    const res = await list({ status: "REVOKED" }, { status: ["REVOKED", "REGISTERED"] });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: "status", message: "must be given once" }]);
  });

  test("GIVEN a token for a serial WHEN listing THEN the page starts after that serial", async () => {
    await seed([["AFTR-0001", "REGISTERED", "thermostat"]]);
    const res = await list({ nextToken: encodeToken("AFTR-0001") });
    expect(res.body.devices.map((d: { serialNumber: string }) => d.serialNumber)).not.toContain("AFTR-0001");
  });
});
