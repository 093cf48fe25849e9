/**
 * The twin console end to end: a running twin with 3 simulated Pis (real device client processes,
 * telemetry every second), the console on a random port, and the page driven in headless Debian
 * Chromium through playwright-core (no browser download). Waits are waits on conditions.
 *
 * The screenshot is kept at test-artifacts/console.png (git-ignored; outside the temporary directory).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { TwinConsole } from "../../local/console/twin-console";
import { TOKEN_HEADER } from "../../local/console/server";
import { bringUpFleet, serialFor, type FleetUp } from "../../local/scenarios/common";
import { LocalTwin } from "../../local/twin";
import { scratchDir } from "../support/scratch";

jest.setTimeout(180_000);

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const SCREENSHOT = path.join(__dirname, "..", "..", "test-artifacts", "console.png");
const SERIALS = [1, 2, 3].map((i) => serialFor(i, "c0e5"));
const BUILDINGS = ["hq", "hq", "annex"];
/** What the third Pi reports as its firmware version (its shadow's `reported.firmwareVersion`). */
const HOSTILE_FIRMWARE = `<img src=x onerror="window.__xss='firmware'">`;
const HOSTILE_COMMAND = `<img src=x onerror="window.__xss='alert'">`;

let twin: LocalTwin;
let fleet: FleetUp;
let twinConsole: TwinConsole;
let browser: Browser;
let tab: Page;
const lines: string[] = [];

beforeAll(async () => {
  twin = await LocalTwin.start({ workDir: scratchDir("twin-console-"), functionLogLevel: "silent", telemetryIntervalSeconds: 1, print: (l) => lines.push(l) });
  fleet = await bringUpFleet(twin, SERIALS, {
    concurrency: 3,
    handlerModules: Object.values(twin.handlerModules),
    metadata: (_, i) => ({ buildingId: BUILDINGS[i]! }),
    piOptions: (_, i) => ({ deviceConfig: { firmwareVersion: i === 2 ? HOSTILE_FIRMWARE : "1.4.2" } }),
  });
  if (fleet.running.length !== 3) throw new Error(`fleet did not come up:\n${lines.slice(-30).join("\n")}`);
  twinConsole = await TwinConsole.start(twin, { refreshMs: 300 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  tab = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await tab.goto(twinConsole.url);
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await twinConsole?.close();
  await twin?.stop();
});

const row = (serial: string): string => `#pis tr[data-thing="${serial}"]`;

/**
 * Polls `check` from the test side until it holds. The page's Content-Security-Policy forbids eval, so
 * string predicates of page.waitForFunction fail there whenever they are not true at once.
 */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
const cellText = (serial: string, cell: string): Promise<string> => tab.locator(`${row(serial)} td.${cell}`).innerText();

describe("the page shows the running twin", () => {
  test("GIVEN 3 provisioned Pis WHEN the page loads THEN each appears with status, connection, firmware and building", async () => {
    for (const serial of SERIALS) await tab.locator(`${row(serial)} td.connection[data-connected="true"]`).waitFor();
    await until("every Pi shows its firmware", async () => (await tab.locator("#pis td.firmware").allInnerTexts()).every((text) => text !== "—"));
    for (const [i, serial] of SERIALS.entries()) {
      expect(await cellText(serial, "status")).toBe("PROVISIONED");
      expect(await cellText(serial, "connection")).toContain("online");
      expect(await cellText(serial, "building")).toBe(BUILDINGS[i]);
      expect(await cellText(serial, "type")).toBe(twin.config.deviceTypes[i % twin.config.deviceTypes.length]);
      expect(await cellText(serial, "last-seen")).toMatch(/ago$/);
    }
    expect(await cellText(SERIALS[0]!, "firmware")).toBe("1.4.2");
  });

  test("GIVEN telemetry every second WHEN it arrives THEN each Pi's sparkline is an SVG polyline with several points", async () => {
    await until("every Pi's sparkline has 3 points", async () => {
      const counts = await Promise.all((await tab.locator("#pis svg.spark").all()).map((spark) => spark.getAttribute("data-points")));
      return counts.filter((n) => Number(n) >= 3).length === SERIALS.length;
    });
    const points = await tab.locator(`${row(SERIALS[0]!)} svg.spark polyline`).getAttribute("points");
    const coordinates = points!.trim().split(/\s+/);
    expect(coordinates.length).toBeGreaterThanOrEqual(3);
    for (const xy of coordinates) expect(xy).toMatch(/^-?\d+(\.\d+)?,-?\d+(\.\d+)?$/);
    expect(await tab.locator("#metric").inputValue()).toBe("temperature_c");
  });

  test("GIVEN a Pi WHEN a command is sent from the page THEN its answer comes back through the twin's controller", async () => {
    const sentBefore = twin.stats.commandsSent;
    await tab.selectOption("#command-thing", SERIALS[0]!);
    await tab.fill("#command-name", "ping");
    await tab.fill("#command-params", "{}");
    await tab.click("#command-send");
    await tab.locator('#command-result[data-status="answered"]').waitFor();
    const outcome = JSON.parse(await tab.locator("#command-result").innerText()) as {
      thingName: string;
      topic: string;
      answer: { status: string; result: { pong: boolean } };
    };
    expect(outcome).toMatchObject({ thingName: SERIALS[0], topic: "responses", answer: { status: "ok", result: { pong: true } } });
    expect(twin.stats.commandsSent).toBe(sentBefore + 1);
    await tab.locator('#commands li[data-status="answered"]').first().waitFor();
    expect(await tab.locator("#commands li").first().innerText()).toContain(`ping → ${SERIALS[0]}`);
  });

  test("GIVEN a Pi WHEN an unknown command is sent from the page THEN the device's error becomes an alert that appears on the page", async () => {
    await tab.selectOption("#command-thing", SERIALS[1]!);
    await tab.fill("#command-name", "self-destruct");
    await tab.click("#command-send");
    await tab.locator('#command-result[data-status="answered"]').waitFor();
    expect(await tab.locator("#command-result").innerText()).toContain("UNKNOWN_COMMAND");
    const alert = tab.locator("#alerts li", { hasText: `${SERIALS[1]} error UNKNOWN_COMMAND` });
    await alert.waitFor();
    expect(await alert.innerText()).toContain('unknown command "self-destruct"');
  });
});

describe("device-provided text is shown as text (XSS)", () => {
  test("GIVEN a Pi reporting markup as its firmware version THEN the cell shows the characters and holds no element", async () => {
    const cell = tab.locator(`${row(SERIALS[2]!)} td.firmware`);
    expect(await cell.innerText()).toBe(HOSTILE_FIRMWARE);
    expect(await cell.locator("*").count()).toBe(0);
    expect(await tab.evaluate("window.__xss")).toBeUndefined();
  });

  test("GIVEN an alert carrying markup from a device WHEN it arrives THEN it is shown as text and nothing runs", async () => {
    const { answer } = twin.publishCommand(SERIALS[0]!, HOSTILE_COMMAND);
    await answer;
    const alert = tab.locator("#alerts li", { hasText: `unknown command "${HOSTILE_COMMAND}"` });
    await alert.waitFor();
    expect(await tab.locator("#alerts img, #pis img, #commands img").count()).toBe(0);
    expect(await tab.evaluate("window.__xss")).toBeUndefined();
  });
});

describe("only the console's own page can send commands (CSRF)", () => {
  test("GIVEN another local web page WHEN it tries every way a page can POST to the console THEN no command is sent and it cannot read the fleet", async () => {
    const sentBefore = twin.stats.commandsSent;
    const target = `${twinConsole.url}api/commands/${SERIALS[0]}`;
    const evil = await serveOnce(evilPage(target, twinConsole.url));
    try {
      const attacker = await browser.newPage();
      await attacker.goto(evil.url);
      await attacker.waitForFunction("window.done === true");
      const results = await attacker.evaluate("window.results");
      // A simple (no-cors) POST reaches the server but is refused there; the others never get a CORS allowance.
      expect(results).toEqual({ noCors: "opaque", jsonCors: "blocked", readState: "blocked", form: expect.stringMatching(/^(submitted|timeout)$/) });
      await attacker.close();
    } finally {
      await evil.close();
    }
    await twin.idle();
    expect(twin.stats.commandsSent).toBe(sentBefore);
  });

  test("fails with 403 when the token is missing or wrong, the origin is foreign, or the body is not JSON", async () => {
    const sentBefore = twin.stats.commandsSent;
    const own = { host: `127.0.0.1:${port()}`, "content-type": "application/json" };
    const body = JSON.stringify({ command: "ping" });
    const route = `/api/commands/${SERIALS[0]}`;
    expect((await raw("POST", route, own, body)).status).toBe(403);
    expect((await raw("POST", route, { ...own, [TOKEN_HEADER]: "wrong" }, body)).status).toBe(403);
    expect((await raw("POST", route, { ...own, [TOKEN_HEADER]: twinConsole.token, origin: "http://127.0.0.1:1" }, body)).status).toBe(403);
    expect((await raw("POST", route, { ...own, [TOKEN_HEADER]: twinConsole.token, "sec-fetch-site": "same-site" }, body)).status).toBe(403);
    expect((await raw("POST", route, { ...own, [TOKEN_HEADER]: twinConsole.token, "content-type": "text/plain" }, body)).status).toBe(403);
    expect(twin.stats.commandsSent).toBe(sentBefore);
  });

  test("fails with 421 when the Host is another name (DNS rebinding), for reads and commands", async () => {
    const rebound = { host: `attacker.example:${port()}`, "content-type": "application/json", [TOKEN_HEADER]: twinConsole.token };
    expect((await raw("GET", "/api/state", rebound)).status).toBe(421);
    expect((await raw("GET", "/", rebound)).status).toBe(421);
    expect((await raw("POST", `/api/commands/${SERIALS[0]}`, rebound, JSON.stringify({ command: "ping" }))).status).toBe(421);
  });

  test("fails with 404 for a thing that is not a Pi of the twin and 400 for a malformed command, sending nothing", async () => {
    const sentBefore = twin.stats.commandsSent;
    const ok = { host: `localhost:${port()}`, "content-type": "application/json", [TOKEN_HEADER]: twinConsole.token };
    expect((await raw("POST", "/api/commands/10000000deadbeef", ok, JSON.stringify({ command: "ping" }))).status).toBe(404);
    expect((await raw("POST", `/api/commands/${SERIALS[0]}`, ok, JSON.stringify({ command: "<b>" }))).status).toBe(400);
    expect((await raw("POST", `/api/commands/${SERIALS[0]}`, ok, JSON.stringify({ command: "ping", params: [1] }))).status).toBe(400);
    expect((await raw("POST", `/api/commands/${SERIALS[0]}`, ok, "{not json")).status).toBe(400);
    expect((await raw("POST", "/api/commands/..%2Fx", ok, JSON.stringify({ command: "ping" }))).status).toBe(400);
    expect(twin.stats.commandsSent).toBe(sentBefore);
  });

  test("GIVEN the page WHEN served THEN it carries a CSP without inline script and the token only in its own markup", async () => {
    const page = await raw("GET", "/", { host: `127.0.0.1:${port()}` });
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.headers["content-security-policy"]).not.toContain("unsafe-inline");
    expect(page.headers["access-control-allow-origin"]).toBeUndefined();
    expect(page.body).toContain(`content="${twinConsole.token}"`);
  });
});

test("GIVEN a running Pi WHEN its process stops THEN the page shows it offline from the endpoint's lifecycle event", async () => {
  await twin.stopPi(fleet.running.find((p) => p.serialNumber === SERIALS[2])!);
  await tab.locator(`${row(SERIALS[2]!)} td.connection[data-connected="false"]`).waitFor();
  expect(await cellText(SERIALS[2]!, "connection")).toContain("offline");
  expect(await tab.locator("#summary").innerText()).toBe("2 of 3 online");
});

test("GIVEN everything on the page WHEN the test ends THEN a screenshot of the running twin is kept as an artifact", async () => {
  await tab.locator("#alerts li").first().waitFor();
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await tab.screenshot({ path: SCREENSHOT, fullPage: true });
  const png = fs.readFileSync(SCREENSHOT);
  expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
  expect(png.length).toBeGreaterThan(20_000);
});

// --- helpers -----------------------------------------------------------------------------------------

const port = (): number => Number(new URL(twinConsole.url).port);

/** A request with exactly these headers (fetch would set Host and Origin itself). */
function raw(
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: port(),
        method,
        path: urlPath,
        headers: { ...headers, ...(body === undefined ? {} : { "content-length": Buffer.byteLength(body) }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A page on another origin that tries to send a command and read the fleet, recording what it could do. */
function evilPage(target: string, consoleUrl: string): string {
  const script = `
    const results = (window.results = {});
    const attempt = async (name, fn) => { try { results[name] = await fn(); } catch { results[name] = "blocked"; } };
    (async () => {
      await attempt("noCors", async () => (await fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: '{"command":"ping"}' })).type);
      await attempt("jsonCors", async () => (await fetch(${JSON.stringify(target)}, { method: "POST", headers: { "content-type": "application/json", "x-console-token": "guess" }, body: '{"command":"ping"}' })).status);
      await attempt("readState", async () => (await (await fetch(${JSON.stringify(`${consoleUrl}api/state`)})).text()).slice(0, 20));
      await attempt("form", () => new Promise((resolve) => {
        const frame = document.createElement("iframe");
        frame.name = "sink";
        frame.onload = () => resolve("submitted");
        setTimeout(() => resolve("timeout"), 3000);
        document.body.append(frame);
        const form = document.createElement("form");
        form.method = "POST"; form.action = ${JSON.stringify(target)}; form.target = "sink"; form.enctype = "text/plain";
        const input = document.createElement("input");
        input.name = '{"command":"ping","x":"'; input.value = '"}';
        form.append(input); document.body.append(form); form.submit();
      }));
      window.done = true;
    })();`;
  return `<!doctype html><html><body><script>${script}</script></body></html>`;
}

async function serveOnce(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
