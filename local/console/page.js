// The twin console's page script (served as /console.js; plain browser JavaScript, no build step).
// Everything a device sends (firmware, alert text, command answers) reaches the DOM only as text nodes
// or attribute values: no innerHTML anywhere, so `<img onerror=...>` in a field shows as those characters.
"use strict";
(() => {
  const TOKEN = document.querySelector('meta[name="console-token"]').getAttribute("content");
  const POINTS = 60;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PREFERRED_METRICS = ["temperature_c", "co2_ppm", "load1"];
  const state = { pis: new Map(), telemetry: new Map(), metrics: new Set(), metric: null, alerts: 0, commands: 0 };
  const $ = (id) => document.getElementById(id);

  /** An element with attributes and children; strings become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function ago(ms) {
    if (ms == null) return "never";
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    return `${Math.floor(s / 3600)} h ago`;
  }
  const clock = (ms) => new Date(ms).toLocaleTimeString();

  // --- Pis ------------------------------------------------------------------------------------------
  function rowOf(thing) {
    for (const row of $("pis").tBodies[0].rows) if (row.dataset.thing === thing) return row;
    return undefined;
  }

  function upsertPi(pi) {
    state.pis.set(pi.thingName, pi);
    let row = rowOf(pi.thingName);
    if (!row) {
      row = el("tr", { "data-thing": pi.thingName });
      for (const name of ["thing", "type", "building", "status", "connection", "last-seen", "firmware", "spark", "value", "actions"]) row.append(el("td", { class: name }));
      row.cells[0].textContent = pi.thingName;
      const ping = el("button", { type: "button", class: "link" }, "ping");
      ping.addEventListener("click", () => sendCommand(pi.thingName, "ping", {}));
      row.cells[9].append(ping);
      const rows = [...$("pis").tBodies[0].rows];
      const next = rows.find((r) => r.dataset.thing.localeCompare(pi.thingName) > 0);
      $("pis").tBodies[0].insertBefore(row, next || null);
      drawSpark(pi.thingName);
    }
    row.cells[1].textContent = pi.deviceType;
    row.cells[2].textContent = pi.building ?? "—";
    row.cells[3].replaceChildren(el("span", { class: `badge ${/^[A-Z_]+$/.test(pi.status) ? pi.status : ""}` }, pi.status));
    row.cells[4].replaceChildren(el("span", { class: pi.connected ? "dot on" : "dot" }), pi.connected ? "online" : "offline");
    row.cells[4].dataset.connected = String(pi.connected);
    row.cells[5].textContent = ago(pi.lastSeen);
    row.cells[5].title = pi.lastSeen == null ? "" : new Date(pi.lastSeen).toISOString();
    row.cells[6].textContent = pi.firmware ?? "—";
    row.cells[6].title = pi.firmware ?? "";
    refreshPiList();
  }

  function removePi(thing) {
    state.pis.delete(thing);
    state.telemetry.delete(thing);
    rowOf(thing)?.remove();
    refreshPiList();
  }

  function refreshPiList() {
    const things = [...state.pis.keys()].sort();
    const online = [...state.pis.values()].filter((p) => p.connected).length;
    $("pi-count").textContent = `${things.length}`;
    $("summary").textContent = `${online} of ${things.length} online`;
    $("no-pis").hidden = things.length > 0;
    const select = $("command-thing");
    const chosen = select.value;
    if ([...select.options].map((o) => o.value).join("\n") !== things.join("\n")) {
      select.replaceChildren(...things.map((t) => el("option", { value: t }, t)));
      if (things.includes(chosen)) select.value = chosen;
    }
  }

  // --- telemetry sparklines ---------------------------------------------------------------------------
  function addPoint(point) {
    const points = state.telemetry.get(point.thingName) ?? [];
    points.push(point);
    if (points.length > POINTS) points.splice(0, points.length - POINTS);
    state.telemetry.set(point.thingName, points);
    let added = false;
    for (const name of Object.keys(point.metrics)) if (!state.metrics.has(name)) (state.metrics.add(name), (added = true));
    if (added) refreshMetrics();
    drawSpark(point.thingName);
  }

  function refreshMetrics() {
    const select = $("metric");
    const names = [...state.metrics].sort();
    if (!state.metric) state.metric = PREFERRED_METRICS.find((m) => state.metrics.has(m)) ?? names[0] ?? null;
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (state.metric) select.value = state.metric;
  }

  function drawSpark(thing) {
    const row = rowOf(thing);
    if (!row) return;
    const width = 160, height = 30, pad = 2;
    const values = (state.telemetry.get(thing) ?? []).map((p) => p.metrics[state.metric]).filter((v) => typeof v === "number");
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${state.metric ?? "telemetry"} of ${thing}`);
    const base = document.createElementNS(SVG_NS, "line");
    base.setAttribute("class", "base");
    for (const [k, v] of Object.entries({ x1: 0, y1: height - pad, x2: width, y2: height - pad })) base.setAttribute(k, String(v));
    svg.append(base);
    if (values.length > 0) {
      const min = Math.min(...values), max = Math.max(...values);
      const span = max - min || 1;
      // A short history fills the first third, then the line grows to the full window and scrolls.
      const step = values.length > 1 ? (width - 2 * pad) / (Math.max(values.length, POINTS / 3) - 1) : 0;
      const x0 = width - pad - step * (values.length - 1);
      const points = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(height - pad - ((v - min) / span) * (height - 2 * pad)).toFixed(1)}`);
      const line = document.createElementNS(SVG_NS, "polyline");
      line.setAttribute("points", points.join(" "));
      svg.append(line);
    }
    svg.dataset.points = String(values.length);
    row.cells[7].replaceChildren(svg);
    const last = values[values.length - 1];
    row.cells[8].textContent = last === undefined ? "" : `${Number.isInteger(last) ? last : last.toFixed(2)}`;
  }

  // --- alerts and commands ------------------------------------------------------------------------------
  function addAlert(alert) {
    state.alerts++;
    const item = el("li", { "data-message-id": alert.messageId },
      el("span", { class: "when" }, clock(alert.receivedAt)),
      el("span", { class: "subject" }, alert.subject ?? "(no subject)"),
      el("div", { class: "body" }, alert.message));
    $("alerts").prepend(item);
    while ($("alerts").children.length > 100) $("alerts").lastElementChild.remove();
    $("alert-count").textContent = String(state.alerts);
    $("no-alerts").hidden = true;
  }

  function addCommand(outcome) {
    state.commands++;
    const answer = outcome.status === "answered" ? `${outcome.topic}: ${JSON.stringify(outcome.answer)}` : "no answer yet";
    const item = el("li", { "data-command-id": outcome.id, "data-status": outcome.status },
      el("span", { class: "when" }, clock(outcome.sentAt)),
      el("span", { class: "subject" }, `${outcome.command} → ${outcome.thingName}`),
      outcome.latencyMs === undefined ? "" : el("span", { class: "when" }, ` ${outcome.latencyMs} ms`),
      el("div", { class: "body" }, answer));
    $("commands").prepend(item);
    while ($("commands").children.length > 100) $("commands").lastElementChild.remove();
    $("command-count").textContent = String(state.commands);
  }

  async function sendCommand(thing, command, params) {
    const button = $("command-send");
    const result = $("command-result");
    button.disabled = true;
    $("command-state").textContent = `sending ${command} to ${thing}…`;
    try {
      const res = await fetch(`/api/commands/${encodeURIComponent(thing)}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-console-token": TOKEN },
        body: JSON.stringify({ command, params }),
      });
      const body = await res.json();
      result.hidden = false;
      result.className = body.topic === "errors" || !res.ok ? "errors" : "";
      result.dataset.status = res.ok ? body.status : "refused";
      result.textContent = JSON.stringify(body, null, 2);
      $("command-state").textContent = res.ok ? (body.status === "answered" ? `answered in ${body.latencyMs} ms` : "sent; no answer yet") : `refused (${res.status})`;
    } catch (err) {
      $("command-state").textContent = `failed: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  }

  $("command-form").addEventListener("submit", (event) => {
    event.preventDefault();
    let params;
    try {
      params = JSON.parse($("command-params").value || "{}");
    } catch {
      $("command-state").textContent = "params must be a JSON object";
      return;
    }
    void sendCommand($("command-thing").value, $("command-name").value.trim(), params);
  });

  $("metric").addEventListener("change", () => {
    state.metric = $("metric").value;
    for (const thing of state.pis.keys()) drawSpark(thing);
  });

  // --- the live stream -------------------------------------------------------------------------------------
  function applySnapshot(snapshot) {
    $("pis").tBodies[0].replaceChildren();
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

  const on = (source, name, fn) => source.addEventListener(name, (event) => fn(JSON.parse(event.data)));
  const source = new EventSource("/events");
  source.addEventListener("open", () => ($("stream").textContent = "live", ($("stream").className = "live")));
  source.addEventListener("error", () => ($("stream").textContent = "reconnecting…", ($("stream").className = "down")));
  on(source, "snapshot", applySnapshot);
  on(source, "pi", upsertPi);
  on(source, "pi-removed", (e) => removePi(e.thingName));
  on(source, "telemetry", addPoint);
  on(source, "alert", addAlert);
  on(source, "command", addCommand);

  // "3 s ago" keeps counting between events.
  setInterval(() => {
    for (const pi of state.pis.values()) {
      const row = rowOf(pi.thingName);
      if (row) row.cells[5].textContent = ago(pi.lastSeen);
    }
  }, 1000);
})();
