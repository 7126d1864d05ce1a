// A stacked bar chart in SVG, drawn from the data alone (no library, nothing fetched): one bar a
// day, one segment per series, a legend, and a title on every segment for pointer and screen
// reader alike.
import { el, n, svg } from "./api.js";

/** Colours with at least 3:1 contrast against white, told apart without relying on hue alone
 * by the legend's order and each segment's title. */
export const PALETTE = ["#1f4e8c", "#b8420f", "#2e7d32", "#7b1fa2", "#9e6a00", "#00838f", "#c2185b", "#4e5d6c", "#5d4037", "#3949ab", "#827717", "#ad1457"];

/**
 * `days`: [{date, parts: {series: value}}]; `series`: [{key, label}] in stacking order.
 * Returns a figure with the chart and its legend.
 */
export function stackedBars(caption, days, series, unit) {
  const width = 760, height = 240, left = 44, bottom = 28, top = 8;
  const totals = days.map((d) => series.reduce((s, k) => s + (d.parts[k.key] || 0), 0));
  const max = Math.max(1, ...totals);
  const step = (width - left) / Math.max(1, days.length);
  const bar = Math.max(2, step * 0.7);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const color = (i) => PALETTE[i % PALETTE.length];
  const ticks = [0, Math.ceil(max / 2), max];
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${caption}: ${n(totals.reduce((a, b) => a + b, 0))} ${unit} over ${days.length} days`, class: "chart" },
    ticks.map((t) => svg("g", {},
      svg("line", { x1: left, x2: width, y1: y(t), y2: y(t), class: "grid" }),
      svg("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", class: "axis" }, n(t)))),
    days.map((d, i) => {
      let base = 0;
      const x = left + i * step + (step - bar) / 2;
      const segments = series.map((s, j) => {
        const v = d.parts[s.key] || 0;
        if (!v) return null;
        const rect = svg("rect", { x: x.toFixed(1), width: bar.toFixed(1), y: y(base + v).toFixed(1), height: (y(base) - y(base + v)).toFixed(1), fill: color(j), "data-series": s.key },
          svg("title", {}, `${d.date}: ${s.label}, ${n(v)} ${unit}`));
        base += v;
        return rect;
      });
      const label = days.length <= 31 || i % Math.ceil(days.length / 15) === 0
        ? svg("text", { x: (x + bar / 2).toFixed(1), y: height - 10, "text-anchor": "middle", class: "axis" }, d.date.slice(5))
        : null;
      return svg("g", { class: "day", "data-date": d.date }, segments, label);
    }));
  const used = series.map((s, j) => ({ ...s, j })).filter((s) => days.some((d) => d.parts[s.key]));
  const legend = el("ul", { class: "legend", "aria-label": `Legend of ${caption}` },
    used.map((s) => el("li", {}, el("span", { class: "swatch", "data-color": color(s.j) }), s.label)));
  for (const sw of legend.querySelectorAll(".swatch")) sw.style.background = sw.dataset.color;
  return el("figure", {}, el("figcaption", {}, caption), chart, legend);
}
