// Plain SVG drawing for the dashboard: the city map, the hourly forecast chart and the daily
// AQI bars. No library, nothing from another host; every shape is built as a DOM node.
const NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes and children (strings become text nodes). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const REGION_COLOURS = ["#3b6fb6", "#8e5bb5", "#2f8f6f", "#b5773b", "#b53b62", "#5b7f8e"];

/** Convex hull (Andrew's monotone chain) of [x, y] points, counter-clockwise. */
function hull(points) {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts;
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower.at(-2), lower.at(-1), p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper = [];
  for (const p of pts.reverse()) {
    while (upper.length >= 2 && cross(upper.at(-2), upper.at(-1), p) <= 0) upper.pop();
    upper.push(p);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

/**
 * The map: cities as focusable dots coloured by level, regions as shaded outlines around
 * their members (a convex hull widened by a round stroke). Equirectangular projection
 * scaled by cos(mid latitude), fitted to the cities.
 *   cities: [{code, lat, lon, label, level, colour, title}]
 *   groups: [{id, label, members: [code]}]
 *   onSelect(code), selected: code or null
 */
export function drawMap({ cities, groups, onSelect, selected, title, widthHint }) {
  // Drawn at the width it is shown at, so its text keeps its size on a phone.
  const width = Math.round(Math.max(300, Math.min(720, widthHint || 640)));
  const pad = 34;
  const lats = cities.map((c) => c.lat);
  const lons = cities.map((c) => c.lon);
  const [minLat, maxLat] = [Math.min(...lats), Math.max(...lats)];
  const [minLon, maxLon] = [Math.min(...lons), Math.max(...lons)];
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const spanX = Math.max((maxLon - minLon) * k, 1);
  const spanY = Math.max(maxLat - minLat, 1);
  const scale = (width - 2 * pad) / spanX;
  const height = Math.round(Math.min(Math.max(spanY * scale + 2 * pad, 260), 640));
  const yScale = Math.min(scale, (height - 2 * pad) / spanY);
  const x = (lon) => pad + (lon - minLon) * k * scale;
  const y = (lat) => pad + (maxLat - lat) * yScale;
  const where = new Map(cities.map((c) => [c.code, [x(c.lon), y(c.lat)]]));

  const graticule = [];
  for (let lon = Math.ceil(minLon); lon <= Math.floor(maxLon); lon += 2) {
    graticule.push(svg("line", { x1: x(lon), x2: x(lon), y1: 0, y2: height, class: "grat" }));
  }
  for (let lat = Math.ceil(minLat); lat <= Math.floor(maxLat); lat += 2) {
    graticule.push(svg("line", { x1: 0, x2: width, y1: y(lat), y2: y(lat), class: "grat" }));
  }

  const regionShapes = groups.map((group, index) => {
    const points = group.members.map((code) => where.get(code)).filter(Boolean);
    if (!points.length) return null;
    const ring = hull(points);
    const d = `M${ring.map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join("L")}${ring.length > 2 ? "Z" : ""}`;
    const colour = REGION_COLOURS[index % REGION_COLOURS.length];
    const top = ring.reduce((a, b) => (b[1] < a[1] ? b : a));
    return svg(
      "g",
      { class: "region", "data-region": group.id },
      svg("title", {}, group.label),
      svg("path", {
        d,
        fill: colour,
        stroke: colour,
        "stroke-width": 30,
        "stroke-linejoin": "round",
        "stroke-linecap": "round",
        opacity: 0.14,
      }),
      svg(
        "text",
        { x: Math.min(Math.max(top[0], 60), width - 60), y: Math.max(top[1] - 18, 12), class: "region-label", fill: colour, "text-anchor": "middle" },
        group.short || group.label,
      ),
    );
  });

  // Cities with a level (and the selected one) are drawn last: on top where dots crowd.
  const rank = (c) => (c.code === selected ? 2 : c.level ? 1 : 0);
  const ordered = [...cities].sort((a, b) => rank(a) - rank(b));
  // Names of the selected and the warned cities, most important first, each only where it
  // does not overlap a name already placed.
  const placed = [];
  const named = new Set();
  for (const city of [...ordered].reverse()) {
    if (!city.level && city.code !== selected) continue;
    const [cx, cy] = where.get(city.code);
    const box = { x0: cx + 8, x1: cx + 12 + city.label.length * 7, y0: cy - 8, y1: cy + 6 };
    if (placed.some((b) => box.x0 < b.x1 && b.x0 < box.x1 && box.y0 < b.y1 && b.y0 < box.y1)) continue;
    placed.push(box);
    named.add(city.code);
  }
  const dots = ordered.map((city) => {
    const [cx, cy] = where.get(city.code);
    const strong = named.has(city.code);
    const node = svg(
      "g",
      {
        class: `city-dot${city.code === selected ? " selected" : ""}`,
        tabindex: 0,
        role: "button",
        "aria-label": city.title,
        "data-city": city.code,
        "data-level": city.level || "none",
      },
      svg("title", {}, city.title),
      svg("circle", { cx, cy, r: 9, class: "hit" }),
      svg("circle", { cx, cy, r: city.level ? 8 : 5.5, fill: city.colour, class: "dot" }),
      strong ? svg("text", { x: cx + 10, y: cy + 4, class: "city-label" }, city.label) : null,
    );
    node.addEventListener("click", () => onSelect(city.code));
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        onSelect(city.code);
      }
    });
    return node;
  });

  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "map-svg", role: "group", "aria-label": title },
    svg("rect", { x: 0, y: 0, width, height, class: "sea" }),
    graticule,
    regionShapes,
    dots,
  );
}

/** Hours (ms) on a local calendar: the local hour of `ms` in `zone`. */
function localHour(ms, zone) {
  const text = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", hourCycle: "h23" }).format(new Date(ms));
  return Number(text);
}

function localDayLabel(ms, zone) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, month: "2-digit", day: "2-digit" }).format(new Date(ms));
}

/**
 * The hourly chart: p10–p90 band, p50 line, observed hours, threshold lines, issue time
 * and now. hourly: [{t (ms), p10, p50, p90}], observed: [{t, pm25}], thresholds:
 * [{value, colour}].
 */
export function drawChart({ hourly, observed, thresholds, issuedAt, now, zone, title, desc, labels, widthHint }) {
  const width = Math.round(Math.max(320, Math.min(760, widthHint || 720)));
  const height = width < 500 ? 240 : 300;
  const m = { l: 40, r: 40, t: 14, b: 30 };
  const times = [...hourly.map((h) => h.t), ...observed.map((o) => o.t)];
  const t0 = Math.min(...times, issuedAt);
  const t1 = Math.max(...times);
  const top = Math.max(280, ...hourly.map((h) => h.p90), ...observed.map((o) => o.pm25)) * 1.06;
  const x = (t) => m.l + ((t - t0) / Math.max(t1 - t0, 1)) * (width - m.l - m.r);
  const y = (v) => height - m.b - (v / top) * (height - m.t - m.b);
  const id = `chart-${Math.random().toString(36).slice(2, 8)}`;

  const ticks = [];
  for (let t = Math.ceil(t0 / 3.6e6) * 3.6e6; t <= t1; t += 3.6e6) {
    if (localHour(t, zone) !== 0) continue;
    ticks.push(
      svg("line", { x1: x(t), x2: x(t), y1: m.t, y2: height - m.b, class: "tick" }),
      svg("text", { x: x(t) + 3, y: height - m.b + 14, class: "axis" }, localDayLabel(t, zone)),
    );
  }
  const yTicks = [0, 100, 200, 300, 400, 500, 600, 800].filter((v) => v < top);
  const yAxis = yTicks.map((v) => svg("text", { x: m.l - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, v));

  const lines = thresholds.map((th) =>
    th.value < top
      ? svg(
          "g",
          { class: "threshold", "data-threshold": th.value },
          svg("line", { x1: m.l, x2: width - m.r, y1: y(th.value), y2: y(th.value), stroke: th.colour }),
          svg("text", { x: width - m.r + 4, y: y(th.value) + 4, class: "axis", fill: "#334" }, th.value),
        )
      : null,
  );

  const band = hourly.length
    ? svg("path", {
        class: "band",
        d: `M${hourly.map((h) => `${x(h.t).toFixed(1)},${y(h.p90).toFixed(1)}`).join("L")}L${[...hourly]
          .reverse()
          .map((h) => `${x(h.t).toFixed(1)},${y(h.p10).toFixed(1)}`)
          .join("L")}Z`,
      })
    : null;
  const median = hourly.length
    ? svg("path", { class: "median", d: `M${hourly.map((h) => `${x(h.t).toFixed(1)},${y(h.p50).toFixed(1)}`).join("L")}` })
    : null;
  // Observed hours: a line broken where an hour is missing.
  let obsPath = "";
  observed.forEach((o, i) => {
    const gap = i === 0 || o.t - observed[i - 1].t > 3.6e6 * 1.5;
    obsPath += `${gap ? "M" : "L"}${x(o.t).toFixed(1)},${y(o.pm25).toFixed(1)}`;
  });
  const obs = observed.length ? svg("path", { class: "observed", d: obsPath }) : null;
  const obsDots = observed.length === 1 ? svg("circle", { cx: x(observed[0].t), cy: y(observed[0].pm25), r: 3, class: "observed-dot" }) : null;

  const marks = [];
  if (issuedAt >= t0 && issuedAt <= t1) {
    marks.push(svg("line", { x1: x(issuedAt), x2: x(issuedAt), y1: m.t, y2: height - m.b, class: "issued" }));
  }
  if (now >= t0 && now <= t1) {
    marks.push(
      svg("line", { x1: x(now), x2: x(now), y1: m.t, y2: height - m.b, class: "now" }),
      svg("text", { x: x(now) + 3, y: height - m.b - 5, class: "axis" }, labels.now),
    );
  }
  const legendY = m.t + 2;
  const legend = svg(
    "g",
    { class: "chart-legend", transform: `translate(${m.l + 8},${legendY})` },
    svg("rect", { x: 0, y: 0, width: 14, height: 9, class: "band" }),
    svg("text", { x: 18, y: 9, class: "axis" }, labels.band),
    svg("line", { x1: 70, x2: 86, y1: 5, y2: 5, class: "median" }),
    svg("text", { x: 90, y: 9, class: "axis" }, labels.median),
    svg("line", { x1: 126, x2: 142, y1: 5, y2: 5, class: "observed" }),
    svg("text", { x: 146, y: 9, class: "axis" }, labels.observed),
  );

  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-labelledby": `${id}-t ${id}-d`, "data-testid": "chart" },
    svg("title", { id: `${id}-t` }, title),
    svg("desc", { id: `${id}-d` }, desc),
    svg("rect", { x: m.l, y: m.t, width: width - m.l - m.r, height: height - m.t - m.b, class: "plot" }),
    ticks,
    yAxis,
    lines,
    band,
    median,
    obs,
    obsDots,
    marks,
    legend,
  );
}

/** Daily AQI bars D+1..D+3: the bar is the AQI of p50, the whisker reaches the AQI of p90. */
export function drawDailyBars({ days, colourOf, title }) {
  const width = 360;
  const height = 170;
  const m = { l: 34, r: 8, t: 10, b: 34 };
  const top = Math.max(300, ...days.map((d) => d.aqi_p90 || 0)) * 1.05;
  const y = (v) => height - m.b - (v / top) * (height - m.t - m.b);
  const slot = (width - m.l - m.r) / Math.max(days.length, 1);
  const grid = [100, 200, 300, 400, 500]
    .filter((v) => v < top)
    .map((v) =>
      svg(
        "g",
        {},
        svg("line", { x1: m.l, x2: width - m.r, y1: y(v), y2: y(v), class: "tick" }),
        svg("text", { x: m.l - 4, y: y(v) + 4, class: "axis", "text-anchor": "end" }, v),
      ),
    );
  const bars = days.map((d, i) => {
    const cx = m.l + slot * (i + 0.5);
    const p50 = d.aqi_p50 || 0;
    const p90 = d.aqi_p90 || p50;
    return svg(
      "g",
      { class: "day-bar", "data-lead": d.lead_day },
      svg("rect", { x: cx - slot * 0.28, y: y(p50), width: slot * 0.56, height: Math.max(y(0) - y(p50), 1), fill: colourOf(p50), stroke: "#1f2a37", "stroke-width": 0.5 }),
      svg("line", { x1: cx, x2: cx, y1: y(p50), y2: y(p90), class: "whisker" }),
      svg("line", { x1: cx - 8, x2: cx + 8, y1: y(p90), y2: y(p90), class: "whisker" }),
      svg("text", { x: cx, y: y(p50) - 4, "text-anchor": "middle", class: "axis strong" }, p50 || "—"),
      svg("text", { x: cx, y: height - m.b + 14, "text-anchor": "middle", class: "axis" }, `D+${d.lead_day}`),
      svg("text", { x: cx, y: height - m.b + 27, "text-anchor": "middle", class: "axis" }, d.local_date.slice(5)),
    );
  });
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "bars", role: "img", "aria-label": title },
    grid,
    bars,
  );
}
