/**
 * SVG chart of monthly cost against fleet size (1 to 100,000 devices, both axes logarithmic), one
 * line per service and the total. Deterministic: the same inventory and prices give the same bytes.
 */
import { Inventory } from "./inventory";
import { costOf } from "./model";

export const CHART_FLEET_SIZES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
const COLORS = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
  "#393b79",
  "#637939",
  "#8c6d31",
  "#843c39",
];
const W = 900;
const H = 520;
const M = { left: 70, right: 210, top: 40, bottom: 50 };

export function costChartSvg(inventory: Inventory, intervalMinutes: number): string {
  const reports = CHART_FLEET_SIZES.map((devices) => costOf(inventory, { devices, intervalMinutes }));
  const services = [...new Set(reports.flatMap((r) => Object.keys(r.byService)))]
    .filter((s) => reports.some((r) => (r.byService[s] ?? 0) >= 0.01))
    .sort((a, b) => (reports.at(-1)!.byService[b] ?? 0) - (reports.at(-1)!.byService[a] ?? 0));
  const yMin = 0.01;
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...reports.map((r) => r.totalUsdPerMonth))));
  const x = (devices: number) => M.left + (Math.log10(devices) / 5) * (W - M.left - M.right);
  const y = (usd: number) =>
    M.top + (1 - (Math.log10(Math.max(usd, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (H - M.top - M.bottom);
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="15" font-weight="bold">Monthly cost by service vs fleet size (${inventory.environment}, a reading every ${intervalMinutes} min, eu-west-1 list prices)</text>`,
  ];
  for (let e = 0; e <= 5; e++) {
    const px = f(x(10 ** e));
    out.push(
      `<line x1="${px}" y1="${M.top}" x2="${px}" y2="${H - M.bottom}" stroke="#ddd"/>`,
      `<text x="${px}" y="${H - M.bottom + 18}" text-anchor="middle">${(10 ** e).toLocaleString("en-US")}</text>`,
    );
  }
  for (let e = Math.log10(yMin); e <= Math.log10(yMax); e++) {
    const py = f(y(10 ** e));
    out.push(
      `<line x1="${M.left}" y1="${py}" x2="${W - M.right}" y2="${py}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">$${10 ** e >= 1 ? (10 ** e).toLocaleString("en-US") : (10 ** e).toFixed(-e)}</text>`,
    );
  }
  out.push(`<text x="${f((M.left + W - M.right) / 2)}" y="${H - 12}" text-anchor="middle">devices (log scale)</text>`);
  out.push(`<text transform="translate(16 ${f((M.top + H - M.bottom) / 2)}) rotate(-90)" text-anchor="middle">USD per month (log scale)</text>`);
  const line = (values: number[], color: string, width: number, label: string, row: number) => {
    const points = values.map((v, i) => `${f(x(CHART_FLEET_SIZES[i]))},${f(y(v))}`).join(" ");
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="${width}" points="${points}"/>`);
    const ly = M.top + 8 + row * 18;
    out.push(`<line x1="${W - M.right + 12}" y1="${ly}" x2="${W - M.right + 32}" y2="${ly}" stroke="${color}" stroke-width="${width}"/>`);
    out.push(`<text x="${W - M.right + 38}" y="${ly}" dominant-baseline="middle">${label}</text>`);
  };
  line(
    reports.map((r) => r.totalUsdPerMonth),
    "#000",
    3,
    `Total ($${reports.find((r) => r.devices === 10000)!.totalUsdPerMonth.toFixed(0)} at 10k)`,
    0,
  );
  services.forEach((s, i) =>
    line(
      reports.map((r) => r.byService[s] ?? 0),
      COLORS[i % COLORS.length],
      1.5,
      s,
      i + 1,
    ),
  );
  out.push("</svg>");
  return out.join("\n") + "\n";
}
