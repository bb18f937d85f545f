// Charts drawn in the page as SVG (no chart library): horizontal bars, grouped columns over days,
// and a weekday-by-hour heatmap. Each chart is an image with a name, and its numbers are also a
// table for screen readers and for copying.
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
let counter = 0;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function figure(title, svg, dataTable) {
  const id = `chart${++counter}`;
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", id);
  return h("figure", { class: "chart" }, h("figcaption", { id }, title), svg,
    h("details", {}, h("summary", {}, t("chart.numbers")), dataTable));
}

function dataTable(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

/// Horizontal bars: items = [{label, value}], values in 0…max, `unit` appended to the numbers.
export function barChart(title, items, { max = 100, unit = "%" } = {}) {
  const rowH = 30;
  const width = 520;
  const labelW = 170;
  const svg = s("svg", { viewBox: `0 0 ${width} ${items.length * rowH + 10}`, class: "bars" });
  items.forEach((item, i) => {
    const y = i * rowH + 5;
    const w = Math.max(0, Math.min(1, item.value / (max || 1))) * (width - labelW - 70);
    // A long name is shortened on the bar (whole in its tooltip and in the table).
    const short = item.label.length > 22 ? `${item.label.slice(0, 21)}…` : item.label;
    svg.append(
      s("text", { x: labelW - 8, y: y + 17, "text-anchor": "end", class: "label" }, s("title", {}, item.label), short),
      s("rect", { x: labelW, y: y + 3, width: width - labelW - 70, height: rowH - 10, class: "track" }),
      s("rect", { x: labelW, y: y + 3, width: w, height: rowH - 10, class: "bar" }),
      s("text", { x: labelW + w + 6, y: y + 17, class: "value" }, `${formatNumber(item.value, 1)}${unit}`));
  });
  return figure(title, svg, dataTable([t("column.name"), t("column.value")], items.map((i) => [i.label, `${formatNumber(i.value, 1)}${unit}`])));
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `rough` (at least 0.5).
export function roundStep(rough) {
  if (!(rough > 0.5)) return 0.5;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= rough - 1e-9);
}

/// Columns per day, two series side by side (e.g. booked and occupied hours).
export function columnChart(title, days, series) {
  const width = 560;
  const height = 220;
  const left = 40;
  const bottom = 40;
  const highest = Math.max(0, ...days.flatMap((d) => series.map((x) => d[x.key])));
  // The axis in round steps (1, 2 or 5 times a power of ten), at most five of them.
  const step = roundStep(highest / 4);
  const lines = Math.max(1, Math.ceil(highest / step));
  const max = step * lines;
  const slot = (width - left - 10) / Math.max(1, days.length);
  const bar = Math.max(2, (slot - 6) / series.length);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "columns" });
  for (let i = 0; i <= lines; i++) {
    const y = height - bottom - ((height - bottom - 10) * i) / lines;
    svg.append(s("line", { x1: left, x2: width - 5, y1: y, y2: y, class: "grid" }),
      s("text", { x: left - 4, y: y + 4, "text-anchor": "end", class: "axis" }, formatNumber(step * i, step < 1 ? 1 : 0)));
  }
  days.forEach((d, i) => {
    series.forEach((x, j) => {
      const hgt = ((height - bottom - 10) * d[x.key]) / max;
      svg.append(s("rect", { x: left + i * slot + 3 + j * bar, y: height - bottom - hgt, width: bar - 1, height: hgt, class: `series-${j}` }));
    });
    if (days.length <= 8 || i % Math.ceil(days.length / 8) === 0) {
      svg.append(s("text", { x: left + i * slot + slot / 2, y: height - bottom + 16, "text-anchor": "middle", class: "axis" }, d.label));
    }
  });
  series.forEach((x, j) => {
    svg.append(s("rect", { x: left + j * 150, y: height - 14, width: 12, height: 12, class: `series-${j}` }),
      s("text", { x: left + j * 150 + 16, y: height - 4, class: "axis" }, x.title));
  });
  return figure(title, svg, dataTable([t("column.day"), ...series.map((x) => x.title)],
    days.map((d) => [d.label, ...series.map((x) => formatNumber(d[x.key], 2))])));
}

/// Weekday × hour cells, darker for more booked hours.
export function heatmap(title, cells, weekdays, weekdayNames) {
  const cell = 20;
  const left = 44;
  const svg = s("svg", { viewBox: `0 0 ${left + 24 * cell + 4} ${7 * cell + 24}`, class: "heatmap" });
  const max = Math.max(0.0001, ...cells.map((c) => c.booked_hours));
  weekdays.forEach((w, row) => {
    svg.append(s("text", { x: left - 6, y: row * cell + 14, "text-anchor": "end", class: "axis" }, weekdayNames[row]));
    for (let hour = 0; hour < 24; hour++) {
      const v = cells.filter((c) => c.weekday === w && c.hour === hour).reduce((a, c) => a + c.booked_hours, 0);
      const level = v === 0 ? 0 : Math.min(4, 1 + Math.floor((v / max) * 3.999));
      svg.append(s("rect", { x: left + hour * cell, y: row * cell, width: cell - 2, height: cell - 2, class: `heat-${level}` }));
    }
  });
  for (let hour = 0; hour < 24; hour += 3) {
    svg.append(s("text", { x: left + hour * cell, y: 7 * cell + 14, class: "axis" }, String(hour).padStart(2, "0")));
  }
  const rows = cells.filter((c) => c.booked_hours > 0)
    .map((c) => [weekdayNames[weekdays.indexOf(c.weekday)], `${String(c.hour).padStart(2, "0")}:00`, formatNumber(c.booked_hours, 2)]);
  return figure(title, svg, dataTable([t("column.weekday"), t("column.hour"), t("column.booked_hours")], rows));
}
