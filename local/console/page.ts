// The twin console's page script, served as /console.js (the server strips the types with esbuild; it is
// type-checked against the DOM by local/console/tsconfig.json). Everything a device sends (firmware, alert
// text, command answers) reaches the DOM only as text nodes or attribute values: no innerHTML anywhere, so
// `<img onerror=...>` in a field shows as those characters.

// The shapes of local/console/fleet-view.ts as they arrive in JSON (that file is Node-side).
interface PiView {
  thingName: string;
  deviceType: string;
  status: string;
  connected: boolean;
  lastSeen: number | null;
  firmware: string | null;
  building: string | null;
}
interface TelemetryPoint {
  thingName: string;
  receivedAt: number;
  metrics: Record<string, number>;
}
interface AlertView {
  messageId: string;
  subject: string | null;
  message: string;
  receivedAt: number;
}
interface CommandView {
  id: string;
  thingName: string;
  command: string;
  status: "answered" | "pending";
  topic?: string;
  answer?: unknown;
  latencyMs?: number;
  sentAt: number;
}
interface Snapshot {
  pis: PiView[];
  telemetry: Record<string, TelemetryPoint[]>;
  alerts: AlertView[];
  commands: CommandView[];
}

(() => {
  const TOKEN = document.querySelector('meta[name="console-token"]')?.getAttribute("content") ?? "";
  const POINTS = 60;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PREFERRED_METRICS = ["temperature_c", "co2_ppm", "load1"];
  const state = {
    pis: new Map<string, PiView>(),
    telemetry: new Map<string, TelemetryPoint[]>(),
    metrics: new Set<string>(),
    metric: null as string | null,
    alerts: 0,
    commands: 0,
  };

  function $<T extends HTMLElement = HTMLElement>(id: string): T {
    const node = document.getElementById(id);
    if (!node) throw new Error(`page element #${id} is missing`);
    return node as T;
  }
  const tbody = (): HTMLTableSectionElement => $<HTMLTableElement>("pis").tBodies[0]!;

  /** An element with attributes and children; strings become text nodes. */
  function el(tag: string, attrs: Record<string, string | number>, ...children: Array<Node | string>): HTMLElement {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child));
    return node;
  }

  function ago(ms: number | null): string {
    if (ms == null) return "never";
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    return `${Math.floor(s / 3600)} h ago`;
  }
  const clock = (ms: number): string => new Date(ms).toLocaleTimeString();

  // --- Pis ------------------------------------------------------------------------------------------
  function rowOf(thing: string): HTMLTableRowElement | undefined {
    for (const row of tbody().rows) if (row.dataset.thing === thing) return row;
    return undefined;
  }

  function upsertPi(pi: PiView): void {
    state.pis.set(pi.thingName, pi);
    let row = rowOf(pi.thingName);
    if (!row) {
      row = el("tr", { "data-thing": pi.thingName }) as HTMLTableRowElement;
      for (const name of ["thing", "type", "building", "status", "connection", "last-seen", "firmware", "spark", "value", "actions"])
        row.append(el("td", { class: name }));
      row.cells[0]!.textContent = pi.thingName;
      const ping = el("button", { type: "button", class: "link" }, "ping");
      ping.addEventListener("click", () => void sendCommand(pi.thingName, "ping", {}));
      row.cells[9]!.append(ping);
      const next = [...tbody().rows].find((r) => (r.dataset.thing ?? "").localeCompare(pi.thingName) > 0);
      tbody().insertBefore(row, next ?? null);
      drawSpark(pi.thingName);
    }
    const cells = row.cells;
    cells[1]!.textContent = pi.deviceType;
    cells[2]!.textContent = pi.building ?? "—";
    cells[3]!.replaceChildren(el("span", { class: `badge ${/^[A-Z_]+$/.test(pi.status) ? pi.status : ""}` }, pi.status));
    cells[4]!.replaceChildren(el("span", { class: pi.connected ? "dot on" : "dot" }), pi.connected ? "online" : "offline");
    cells[4]!.dataset.connected = String(pi.connected);
    cells[5]!.textContent = ago(pi.lastSeen);
    cells[5]!.title = pi.lastSeen == null ? "" : new Date(pi.lastSeen).toISOString();
    cells[6]!.textContent = pi.firmware ?? "—";
    cells[6]!.title = pi.firmware ?? "";
    refreshPiList();
  }

  function removePi(thing: string): void {
    state.pis.delete(thing);
    state.telemetry.delete(thing);
    rowOf(thing)?.remove();
    refreshPiList();
  }

  function refreshPiList(): void {
    const things = [...state.pis.keys()].sort();
    const online = [...state.pis.values()].filter((p) => p.connected).length;
    $("pi-count").textContent = `${things.length}`;
    $("summary").textContent = `${online} of ${things.length} online`;
    $("no-pis").hidden = things.length > 0;
    const select = $<HTMLSelectElement>("command-thing");
    const chosen = select.value;
    if ([...select.options].map((o) => o.value).join("\n") !== things.join("\n")) {
      select.replaceChildren(...things.map((t) => el("option", { value: t }, t)));
      if (things.includes(chosen)) select.value = chosen;
    }
  }

  // --- telemetry sparklines ---------------------------------------------------------------------------
  function addPoint(point: TelemetryPoint): void {
    const points = state.telemetry.get(point.thingName) ?? [];
    points.push(point);
    if (points.length > POINTS) points.splice(0, points.length - POINTS);
    state.telemetry.set(point.thingName, points);
    const before = state.metrics.size;
    for (const name of Object.keys(point.metrics)) state.metrics.add(name);
    if (state.metrics.size !== before) refreshMetrics();
    drawSpark(point.thingName);
  }

  function refreshMetrics(): void {
    const select = $<HTMLSelectElement>("metric");
    const names = [...state.metrics].sort();
    state.metric ??= PREFERRED_METRICS.find((m) => state.metrics.has(m)) ?? names[0] ?? null;
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (state.metric) select.value = state.metric;
  }

  function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    return node;
  }

  function drawSpark(thing: string): void {
    const row = rowOf(thing);
    if (!row) return;
    const width = 160,
      height = 30,
      pad = 2;
    const metric = state.metric;
    const values = (state.telemetry.get(thing) ?? []).map((p) => (metric ? p.metrics[metric] : undefined)).filter((v): v is number => typeof v === "number");
    const chart = svg("svg", {
      class: "spark",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `${metric ?? "telemetry"} of ${thing}`,
    });
    chart.append(svg("line", { class: "base", x1: 0, y1: height - pad, x2: width, y2: height - pad }));
    if (values.length > 0) {
      const min = Math.min(...values),
        max = Math.max(...values);
      const span = max - min || 1;
      // A short history fills the first third, then the line grows to the full window and scrolls.
      const step = values.length > 1 ? (width - 2 * pad) / (Math.max(values.length, POINTS / 3) - 1) : 0;
      const x0 = width - pad - step * (values.length - 1);
      const points = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(height - pad - ((v - min) / span) * (height - 2 * pad)).toFixed(1)}`);
      chart.append(svg("polyline", { points: points.join(" ") }));
    }
    chart.dataset.points = String(values.length);
    row.cells[7]!.replaceChildren(chart);
    const last = values[values.length - 1];
    row.cells[8]!.textContent = last === undefined ? "" : Number.isInteger(last) ? String(last) : last.toFixed(2);
  }

  // --- alerts and commands ------------------------------------------------------------------------------
  function prependCapped(list: HTMLElement, item: HTMLElement): void {
    list.prepend(item);
    while (list.children.length > 100) list.lastElementChild?.remove();
  }

  function addAlert(alert: AlertView): void {
    state.alerts++;
    prependCapped(
      $("alerts"),
      el(
        "li",
        { "data-message-id": alert.messageId },
        el("span", { class: "when" }, clock(alert.receivedAt)),
        el("span", { class: "subject" }, alert.subject ?? "(no subject)"),
        el("div", { class: "body" }, alert.message),
      ),
    );
    $("alert-count").textContent = String(state.alerts);
    $("no-alerts").hidden = true;
  }

  function addCommand(outcome: CommandView): void {
    state.commands++;
    const answer = outcome.status === "answered" ? `${outcome.topic}: ${JSON.stringify(outcome.answer)}` : "no answer yet";
    prependCapped(
      $("commands"),
      el(
        "li",
        { "data-command-id": outcome.id, "data-status": outcome.status },
        el("span", { class: "when" }, clock(outcome.sentAt)),
        el("span", { class: "subject" }, `${outcome.command} → ${outcome.thingName}`),
        outcome.latencyMs === undefined ? "" : el("span", { class: "when" }, ` ${outcome.latencyMs} ms`),
        el("div", { class: "body" }, answer),
      ),
    );
    $("command-count").textContent = String(state.commands);
  }

  async function sendCommand(thing: string, command: string, params: unknown): Promise<void> {
    const button = $<HTMLButtonElement>("command-send");
    const result = $("command-result");
    const status = $("command-state");
    button.disabled = true;
    // The previous answer must not pass for this one while it is on its way.
    result.dataset.status = "sending";
    result.textContent = "";
    status.textContent = `sending ${command} to ${thing}…`;
    try {
      const res = await fetch(`/api/commands/${encodeURIComponent(thing)}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-console-token": TOKEN },
        body: JSON.stringify({ command, params }),
      });
      const body = (await res.json()) as Partial<CommandView> & { message?: string };
      result.hidden = false;
      result.className = body.topic === "errors" || !res.ok ? "errors" : "";
      result.dataset.status = res.ok ? (body.status ?? "") : "refused";
      result.textContent = JSON.stringify(body, null, 2);
      status.textContent = !res.ok ? `refused (${res.status})` : body.status === "answered" ? `answered in ${body.latencyMs} ms` : "sent; no answer yet";
    } catch (err) {
      status.textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      button.disabled = false;
    }
  }

  $("command-form").addEventListener("submit", (event) => {
    event.preventDefault();
    let params: unknown;
    try {
      params = JSON.parse($<HTMLTextAreaElement>("command-params").value || "{}");
    } catch {
      $("command-state").textContent = "params must be a JSON object";
      return;
    }
    void sendCommand($<HTMLSelectElement>("command-thing").value, $<HTMLInputElement>("command-name").value.trim(), params);
  });

  $("metric").addEventListener("change", () => {
    state.metric = $<HTMLSelectElement>("metric").value;
    for (const thing of state.pis.keys()) drawSpark(thing);
  });

  // --- the live stream -------------------------------------------------------------------------------------
  function applySnapshot(snapshot: Snapshot): void {
    tbody().replaceChildren();
    $("alerts").replaceChildren();
    $("commands").replaceChildren();
    state.pis.clear();
    state.telemetry.clear();
    state.alerts = state.commands = 0;
    for (const points of Object.values(snapshot.telemetry)) for (const p of points) for (const m of Object.keys(p.metrics)) state.metrics.add(m);
    refreshMetrics();
    for (const [thing, points] of Object.entries(snapshot.telemetry)) state.telemetry.set(thing, points.slice(-POINTS));
    for (const pi of snapshot.pis) upsertPi(pi);
    for (const alert of snapshot.alerts) addAlert(alert);
    for (const command of snapshot.commands) addCommand(command);
    refreshPiList();
  }

  const source = new EventSource("/events");
  function on<T>(name: string, handle: (data: T) => void): void {
    source.addEventListener(name, (event) => handle(JSON.parse((event as MessageEvent<string>).data) as T));
  }
  const streamState = (text: string, className: string): void => {
    $("stream").textContent = text;
    $("stream").className = className;
  };
  source.addEventListener("open", () => streamState("live", "live"));
  source.addEventListener("error", () => streamState("reconnecting…", "down"));
  on<Snapshot>("snapshot", applySnapshot);
  on<PiView>("pi", upsertPi);
  on<{ thingName: string }>("pi-removed", (e) => removePi(e.thingName));
  on<TelemetryPoint>("telemetry", addPoint);
  on<AlertView>("alert", addAlert);
  on<CommandView>("command", addCommand);

  // "3 s ago" keeps counting between events.
  setInterval(() => {
    for (const pi of state.pis.values()) {
      const row = rowOf(pi.thingName);
      if (row) row.cells[5]!.textContent = ago(pi.lastSeen);
    }
  }, 1000);
})();
