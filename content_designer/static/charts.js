// Small SVG charts for the designer (no library): stacked bars per day, horizontal bars, and
// the tuning trade-off scatter. Sizes are in viewBox units, so charts scale with their box.
"use strict";

const Charts = (() => {
  const COLORS = {answered: "#2e8540", unanswered: "#d91515", points: "#9fb3c8", frontier: "#0972d3",
                  current: "#e07700", recommended: "#037f0c"};

  /** The axis top for counts up to value: 2, 4, 6, 8, 10, 20, 40... so that the three
   *  ticks (0, half, top) are whole numbers and the tallest bar nearly reaches the top. */
  function niceMax(value) {
    const power = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
    for (const m of [1, 2, 4, 6, 8, 10]) {
      if (m * power >= value && m * power >= 2) return m * power;
    }
    return 10 * power;
  }

  /** Stacked bars: rows [{label, answered, unanswered}], one bar per row. */
  function stackedBars(box, rows) {
    clear(box);
    const width = 720, height = 240, left = 36, bottom = 28, top = 12;
    const max = niceMax(Math.max(1, ...rows.map((r) => r.answered + r.unanswered)));
    const plotH = height - bottom - top;
    const slot = (width - left - 8) / Math.max(rows.length, 1);
    const chart = svg("svg", {viewBox: `0 0 ${width} ${height}`, role: "img",
                              "aria-label": "Questions per day, answered and unanswered"});
    for (const tick of [0, max / 2, max]) {
      const y = top + plotH - (tick / max) * plotH;
      chart.append(svg("line", {x1: left, x2: width, y1: y, y2: y, class: "gridline"}),
                   svg("text", {x: left - 6, y: y + 4, "text-anchor": "end", class: "axis"}, Math.round(tick)));
    }
    rows.forEach((row, i) => {
      const x = left + i * slot + slot * 0.15;
      const w = Math.max(1, slot * 0.7);
      let y = top + plotH;
      for (const part of ["answered", "unanswered"]) {
        const h = (row[part] / max) * plotH;
        y -= h;
        if (h > 0) {
          chart.append(svg("rect", {x, y, width: w, height: h, fill: COLORS[part], "data-part": part},
                           svg("title", {}, `${row.label}: ${row[part]} ${part}`)));
        }
      }
      const every = Math.ceil(rows.length / 10);
      if (i % every === 0) {
        chart.append(svg("text", {x: x + w / 2, y: height - 8, "text-anchor": "middle", class: "axis"}, row.label));
      }
    });
    box.append(chart, legend([["answered", COLORS.answered], ["unanswered", COLORS.unanswered]]));
  }

  /** Horizontal bars: rows [{label, value}]. */
  function bars(box, rows) {
    clear(box);
    const max = Math.max(1, ...rows.map((r) => r.value));
    const rowH = 26, width = 360, labelW = 110;
    const chart = svg("svg", {viewBox: `0 0 ${width} ${Math.max(rowH, rows.length * rowH)}`, role: "img",
                              "aria-label": rows.map((r) => `${r.label} ${r.value}`).join(", ")});
    rows.forEach((row, i) => {
      const w = ((width - labelW - 40) * row.value) / max;
      chart.append(svg("text", {x: labelW - 6, y: i * rowH + 17, "text-anchor": "end", class: "axis"}, row.label),
                   svg("rect", {x: labelW, y: i * rowH + 5, width: Math.max(w, 1), height: rowH - 10,
                                fill: row.color || COLORS.frontier, rx: 3}),
                   svg("text", {x: labelW + w + 6, y: i * rowH + 17, class: "axis"}, row.value));
    });
    box.append(chart);
  }

  /** The tuning trade-off: every setting tried, the frontier, current and recommended. */
  function tradeoff(box, data) {
    clear(box);
    const width = 720, height = 320, left = 48, bottom = 40, top = 12, right = 12;
    const all = [...data.points, ...data.frontier, data.current, data.recommended];
    const maxX = Math.max(0.05, ...all.map((p) => p[0])) * 1.05;
    const minY = Math.max(0, Math.min(...all.map((p) => p[1])) - 0.05);
    const maxY = Math.min(1, Math.max(...all.map((p) => p[1])) + 0.05);
    const sx = (x) => left + (x / maxX) * (width - left - right);
    const sy = (y) => top + (1 - (y - minY) / (maxY - minY || 1)) * (height - top - bottom);
    const chart = svg("svg", {viewBox: `0 0 ${width} ${height}`, role: "img",
                              "aria-label": "Right answers against wrong answers for every setting tried"});
    for (let i = 0; i <= 4; i++) {
      const x = (maxX * i) / 4, y = minY + ((maxY - minY) * i) / 4;
      chart.append(svg("line", {x1: left, x2: width - right, y1: sy(y), y2: sy(y), class: "gridline"}),
                   svg("text", {x: left - 6, y: sy(y) + 4, "text-anchor": "end", class: "axis"}, `${Math.round(y * 100)}%`),
                   svg("text", {x: sx(x), y: height - bottom + 16, "text-anchor": "middle", class: "axis"}, `${Math.round(x * 100)}%`));
    }
    chart.append(svg("text", {x: (width + left) / 2, y: height - 6, "text-anchor": "middle", class: "axis-title"}, "answered wrongly"),
                 svg("text", {x: 12, y: top + 4, class: "axis-title", transform: `rotate(90 12 ${top + 4})`}, "handled right"));
    for (const [x, y] of data.points) chart.append(svg("circle", {cx: sx(x), cy: sy(y), r: 2, fill: COLORS.points}));
    chart.append(svg("polyline", {points: data.frontier.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" "),
                                  fill: "none", stroke: COLORS.frontier, "stroke-width": 2}));
    for (const [name, point] of [["current", data.current], ["recommended", data.recommended]]) {
      chart.append(svg("circle", {cx: sx(point[0]), cy: sy(point[1]), r: 7, fill: COLORS[name], "data-point": name},
                       svg("title", {}, `${name}: ${Math.round(point[1] * 1000) / 10}% right, ${Math.round(point[0] * 1000) / 10}% wrong`)));
    }
    box.append(chart, legend([["settings tried", COLORS.points], ["best for each wrong-answer rate", COLORS.frontier],
                              ["current", COLORS.current], ["recommended", COLORS.recommended]]));
  }

  function legend(entries) {
    return el("div", {class: "legend"}, entries.map(([name, color]) => {
      const swatch = el("span", {class: "swatch"});
      swatch.style.background = color;  // CSSOM, allowed by the page's CSP
      return el("span", {}, swatch, name);
    }));
  }

  return {stackedBars, bars, tradeoff};
})();
