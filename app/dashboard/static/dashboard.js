// hazewarn duty officers' dashboard. Vanilla JavaScript, no build step, no other host.
// Reads the public /v1 API; writes send the API key kept in localStorage as a Bearer token.
"use strict";

const KEY_STORAGE = "hazewarn.apiKey";
const REFRESH_MS = 60_000;
const SKILL_CITIES_MAX = 8;
const LEVEL_ORDER = ["blue", "yellow", "orange", "red"];

const state = {
  meta: null, // /dashboard/meta.json: AQI categories and level colours
  cities: new Map(), // code -> city
  principal: null, // /v1/auth/me, when a key is set and valid
  busy: false, // a write is in flight or an inline form is open: hold the refresh
  showAllCities: false, // list the cities without a forecast too
};

// ------------------------------------------------------------------ small helpers

function $(selector, root = document) {
  return root.querySelector(selector);
}

/** An element with attributes and children (strings become text nodes, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "style") Object.assign(node.style, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replace(container, ...children) {
  container.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

function emptyNote(text) {
  return el("p", { class: "empty" }, text);
}

function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
  }
}

/** fetch JSON from the API; the key goes along when one is stored. */
async function api(path, { method = "GET", body = undefined, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (auth && key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, data && data.title, data && data.detail);
  }
  return data;
}

/** The error a section shows instead of its content. */
function errorNote(error, what) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    const need = apiKey()
      ? `this key may not read ${what} (${error.message})`
      : `enter a duty-officer API key above to see ${what}`;
    return el("p", { class: "empty" }, need);
  }
  if (error instanceof ApiError && error.status === 404) {
    return el("p", { class: "empty" }, `${what}: not available on this server yet`);
  }
  return el("p", { class: "empty error-text" }, `could not load ${what}: ${error.message}`);
}

function toast(message, kind = "info") {
  const box = $("#toast");
  box.textContent = message;
  box.className = `toast ${kind === "error" ? "error" : ""}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), kind === "error" ? 8000 : 4000);
}

// ------------------------------------------------------------------ time, in city clocks

function cityZone(code) {
  const city = state.cities.get(code);
  return (city && city.timezone) || "Asia/Shanghai";
}

/** "2016-12-15 12:00 +08:00": an instant on the clock of `zone`, with its offset. */
function fmtTime(value, zone = "Asia/Shanghai") {
  if (!value) return "—";
  const instant = new Date(value);
  if (Number.isNaN(instant.getTime())) return String(value);
  const parts = {};
  const format = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "longOffset",
  });
  for (const part of format.formatToParts(instant)) parts[part.type] = part.value;
  let offset = (parts.timeZoneName || "GMT").replace("GMT", "");
  if (offset === "") offset = "+00:00";
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${offset}`;
}

/** "Fri 16 Dec" for a local calendar date "2016-12-16". */
function fmtDay(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.toLocaleDateString("en-GB", {
    weekday: "short",
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  });
}

/** The service's clock: the browser's, shifted like the server's when the demo replays. */
function serviceNow() {
  const offset = (state.meta && state.meta.clock && state.meta.clock.offset_seconds) || 0;
  return new Date(Date.now() + offset * 1000);
}

function fmtHours(hours) {
  if (hours === null || hours === undefined) return "—";
  return `${Math.round(hours)} h`;
}

// ------------------------------------------------------------------ colours

function categoryOf(aqi) {
  if (aqi === null || aqi === undefined || !state.meta) return null;
  const found = state.meta.aqi_categories.find(
    (c) => aqi >= c.aqi_min && (c.aqi_max === null || aqi <= c.aqi_max),
  );
  return found || state.meta.aqi_categories[state.meta.aqi_categories.length - 1];
}

/** Black or white text, whichever reads better on `hex`. */
function inkOn(hex) {
  const n = parseInt(hex.replace("#", ""), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#1f2a37" : "#ffffff";
}

function levelInfo(code) {
  return state.meta && state.meta.levels.find((l) => l.code === code);
}

function levelName(code) {
  const info = levelInfo(code);
  return info ? info.name_en : code;
}

/** "upgraded" (a state) → "upgrade" (the change waiting for approval). */
function changeWord(kind) {
  return { upgraded: "upgrade", downgraded: "downgrade", issued: "issue" }[kind] || "change";
}

function levelBadge(code, { drill = false, suffix = "" } = {}) {
  if (!code) return el("span", { class: "badge none" }, "none");
  const info = levelInfo(code);
  const colour = info ? info.colour_hex : "#888888";
  const label = info ? `${info.name_en} ${info.name_zh}` : code;
  return el(
    "span",
    {
      class: `badge level-${code}`,
      style: { background: colour, color: inkOn(colour) },
      title: info ? `response grade ${info.response_grade}` : null,
      "data-level": code,
    },
    label + suffix,
    drill ? " · drill" : "",
  );
}

function aqiChip(value, aqi, { small = false } = {}) {
  if (value === null || value === undefined) {
    return el("span", { class: `chip missing${small ? " small" : ""}` }, "—");
  }
  const category = categoryOf(aqi);
  const colour = category ? category.colour_hex : "#eef1f5";
  return el(
    "span",
    {
      class: `chip${small ? " small" : ""}`,
      style: { background: colour, color: inkOn(colour) },
      title: category ? `AQI ${aqi}: ${category.name_en} ${category.name_zh}` : null,
    },
    Math.round(value),
  );
}

function renderLegend() {
  if (!state.meta) return;
  replace(
    $("#legend"),
    el("span", {}, "AQI category:"),
    state.meta.aqi_categories.map((c) =>
      el(
        "span",
        {},
        el("span", { class: "chip", style: { background: c.colour_hex, color: inkOn(c.colour_hex) } }, c.level),
        `${c.name_en} ${c.name_zh} (${c.aqi_max === null ? `> ${c.aqi_min - 1}` : `${c.aqi_min}–${c.aqi_max}`})`,
      ),
    ),
  );
}

// ------------------------------------------------------------------ loading

async function load() {
  if (state.busy) return;
  const [cities, latest, active, proposals, unacked, subscriptions, me] = await Promise.allSettled([
    api("/v1/cities", { auth: false }),
    api("/v1/forecasts/latest", { auth: false }),
    // With a refused key, still show what the public sees.
    api("/v1/warnings?active=true&limit=200").catch((error) =>
      error instanceof ApiError && error.status === 401
        ? api("/v1/warnings?active=true&limit=200", { auth: false })
        : Promise.reject(error),
    ),
    apiKey() ? api("/v1/proposals") : Promise.reject(new ApiError(401, "", "no key")),
    apiKey() ? api("/v1/warnings/unacknowledged") : Promise.reject(new ApiError(401, "", "no key")),
    apiKey() ? api("/v1/subscriptions") : Promise.reject(new ApiError(401, "", "no key")),
    apiKey() ? api("/v1/auth/me") : Promise.resolve(null),
  ]);
  if (cities.status === "fulfilled") {
    state.cities = new Map(cities.value.items.map((c) => [c.code, c]));
  }
  state.principal = me.status === "fulfilled" ? me.value : null;
  renderWhoami(me);
  renderRun(latest);
  renderCities(cities, latest, active);
  renderProposals(proposals);
  renderWarnings(active);
  renderFlags(latest, unacked, subscriptions);
  await renderSkill(latest);
  $("#refreshed").textContent = `updated ${fmtTime(serviceNow().toISOString(), "Asia/Shanghai")}`;
}

function items(result) {
  if (result.status !== "fulfilled" || !result.value) return [];
  const value = result.value;
  return Array.isArray(value) ? value : value.items || [];
}

function renderWhoami(me) {
  const box = $("#whoami");
  box.className = "whoami";
  if (!apiKey()) {
    box.textContent = "read-only: no key";
  } else if (me.status === "fulfilled" && me.value) {
    box.textContent = `${me.value.name} · ${me.value.role}`;
    box.classList.add("signed-in");
  } else {
    box.textContent = "key refused (unknown or revoked)";
    box.classList.add("bad");
  }
}

function renderRun(latest) {
  const box = $("#run");
  if (latest.status !== "fulfilled") {
    const error = latest.reason;
    if (error instanceof ApiError && error.status === 404) {
      replace(
        box,
        emptyNote("No forecast run yet. Run `hazewarn forecast run --grid FILE --at TIME`, drop a grid into the scheduler's inbox, or start `hazewarn demo`."),
      );
    } else replace(box, errorNote(error, "the latest forecast run"));
    return;
  }
  const run = latest.value.run;
  replace(
    box,
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "Run"),
      el("dd", {}, `#${run.id}`, run.drill ? " (drill)" : ""),
      el("dt", {}, "Issued"),
      el("dd", {}, fmtTime(run.issued_at, "Asia/Shanghai")),
      el("dt", {}, "Stored"),
      el("dd", {}, fmtTime(run.created_at, "Asia/Shanghai")),
      el("dt", {}, "Model"),
      el("dd", { class: "mono" }, run.model_version),
      el("dt", {}, "Cities"),
      el("dd", {}, `${run.city_count}, leads 1–${run.max_lead_h} h`),
      ...(run.degraded
        ? [
            el("dt", {}, "Degraded"),
            el(
              "dd",
              { class: "degraded" },
              `the grid lacks ${(run.degraded_variables || []).join(", ")}: this run never ` +
                "withdraws, downgrades or lifts a warning by itself",
            ),
          ]
        : []),
    ),
  );
}

function renderCities(cities, latest, active) {
  const body = $("#cities tbody");
  if (cities.status !== "fulfilled") {
    replace(body, el("tr", {}, el("td", { colspan: 5 }, errorNote(cities.reason, "the cities"))));
    return;
  }
  const forecastByCity = new Map();
  if (latest.status === "fulfilled") {
    for (const entry of latest.value.cities) forecastByCity.set(entry.city.code, entry.days);
  }
  const warningByCity = new Map();
  for (const warning of items(active)) {
    const current = warningByCity.get(warning.city_code);
    if (!current || LEVEL_ORDER.indexOf(warning.level) > LEVEL_ORDER.indexOf(current.level)) {
      warningByCity.set(warning.city_code, warning);
    }
  }
  // Header dates from the first city with a forecast (local calendar days).
  const firstDays = [...forecastByCity.values()][0] || [];
  for (let lead = 1; lead <= 3; lead++) {
    const day = firstDays.find((d) => d.lead_day === lead);
    replace($(`#h-d${lead}`), `D+${lead}`, day ? el("span", { class: "date" }, fmtDay(day.local_date)) : null);
  }
  // Cities with a warning first, then those with a forecast, then the rest; by code.
  const rank = (city) =>
    (warningByCity.has(city.code) ? 0 : 2) + (forecastByCity.has(city.code) ? 0 : 1);
  const rows = [...state.cities.values()].sort(
    (a, b) => rank(a) - rank(b) || a.code.localeCompare(b.code),
  );
  $("#cities-count").textContent = `${forecastByCity.size} of ${rows.length} with a forecast`;
  // Cities with neither forecast nor warning fold away behind a button (only once some
  // city has a forecast: with no run at all every city is listed).
  const quiet = rows.filter((c) => !forecastByCity.has(c.code) && !warningByCity.has(c.code));
  const fold = forecastByCity.size > 0 && quiet.length > 0;
  const shown = fold && !state.showAllCities ? rows.filter((c) => !quiet.includes(c)) : rows;
  const toggle = fold
    ? el(
        "tr",
        { class: "more-row" },
        el(
          "td",
          { colspan: 5 },
          el(
            "button",
            {
              type: "button",
              class: "btn btn-link",
              "data-action": "toggle-cities",
              onclick: () => {
                state.showAllCities = !state.showAllCities;
                load();
              },
            },
            state.showAllCities
              ? `Hide the ${quiet.length} cities without a forecast`
              : `Show the ${quiet.length} cities without a forecast in this run`,
          ),
        ),
      )
    : null;
  replace(
    body,
    shown.map((city) => {
      const days = forecastByCity.get(city.code) || [];
      const warning = warningByCity.get(city.code);
      const cells = [1, 2, 3].map((lead) => {
        const day = days.find((d) => d.lead_day === lead);
        if (!day) return el("td", { class: "day" }, el("span", { class: "chip missing" }, "—"));
        return el(
          "td",
          { class: "day", title: `${day.local_date}: p10 ${day.p10.toFixed(0)}, p50 ${day.p50.toFixed(0)}, p90 ${day.p90.toFixed(0)} µg/m³; P(>150) ${(100 * day.p_gt_150).toFixed(0)} %` },
          aqiChip(day.p50, day.aqi_p50),
          aqiChip(day.p90, day.aqi_p90, { small: true }),
        );
      });
      return el(
        "tr",
        { "data-city": city.code, class: days.length ? "" : "no-forecast" },
        el(
          "td",
          {},
          el("strong", {}, city.name_en),
          el("span", { class: "zh" }, city.name_zh),
          el("span", { class: "code" }, city.code),
        ),
        cells,
        el("td", {}, warning ? levelBadge(warning.level, { drill: warning.drill }) : levelBadge(null)),
      );
    }),
    toggle,
  );
}

function cityLabel(code) {
  const city = state.cities.get(code);
  return city ? `${city.name_en} ${city.name_zh}` : code;
}

function reasonBlock(item) {
  if (!item.reason_en && !item.reason_zh) return null;
  return el(
    "div",
    { class: "reason" },
    item.reason_en ? el("span", {}, item.reason_en) : null,
    item.reason_zh ? el("span", { class: "zh" }, item.reason_zh) : null,
  );
}

function windowMeta(item) {
  const zone = cityZone(item.city_code);
  return [
    el("span", {}, `from ${fmtTime(item.effective, zone)}`),
    el("span", {}, `to ${fmtTime(item.expires, zone)}`),
    item.aqi_forecast !== undefined && item.aqi_forecast !== null
      ? el("span", {}, `forecast AQI up to ${item.aqi_forecast}`)
      : null,
  ];
}

function renderProposals(result) {
  const box = $("#proposals");
  const count = $("#proposals-count");
  if (result.status !== "fulfilled") {
    count.textContent = "";
    replace(box, errorNote(result.reason, "the pending proposals"));
    return;
  }
  const list = items(result);
  count.textContent = list.length ? String(list.length) : "";
  count.classList.toggle("hot", list.length > 0);
  if (!list.length) {
    replace(box, emptyNote("No proposal waits for approval."));
    return;
  }
  replace(
    box,
    list.map((p) => {
      const zone = cityZone(p.city_code);
      const level = p.pending_level || p.level;
      const kind = p.pending_kind && p.pending_kind !== "issued" ? ` (${changeWord(p.pending_kind)} from ${levelName(p.level)})` : "";
      const item = el(
        "div",
        { class: "item proposal", "data-proposal": p.id, "data-city": p.city_code },
        el(
          "div",
          { class: "item-head" },
          el("span", { class: "city" }, cityLabel(p.city_code)),
          levelBadge(level, { drill: p.drill, suffix: kind }),
          p.late ? el("span", { class: "badge", style: { background: "#fdecea", color: "#c62828" } }, "late") : null,
        ),
        el(
          "div",
          { class: "item-meta" },
          windowMeta(p),
          p.issue_by ? el("span", {}, `approve by ${fmtTime(p.issue_by, zone)} to keep the lead time`) : null,
        ),
        reasonBlock(p),
      );
      const buttons = el(
        "div",
        { class: "buttons" },
        el("button", { class: "btn btn-primary", type: "button", "data-action": "approve", onclick: () => approve(p) }, "Approve"),
        el("button", { class: "btn btn-danger", type: "button", "data-action": "reject", onclick: () => openReject(item, p) }, "Reject…"),
      );
      item.append(buttons);
      return item;
    }),
  );
}

function renderWarnings(result) {
  const box = $("#warnings");
  const count = $("#warnings-count");
  if (result.status !== "fulfilled") {
    count.textContent = "";
    replace(box, errorNote(result.reason, "the active warnings"));
    return;
  }
  const list = items(result);
  count.textContent = list.length ? String(list.length) : "";
  if (!list.length) {
    replace(box, emptyNote("No warning is in force."));
    return;
  }
  replace(
    box,
    list.map((w) => {
      const zone = cityZone(w.city_code);
      const actions = w.actions || (w.payload && w.payload.actions) || [];
      const item = el(
        "div",
        { class: "item warning", "data-warning": w.id, "data-city": w.city_code },
        el(
          "div",
          { class: "item-head" },
          el("span", { class: "city" }, cityLabel(w.city_code)),
          levelBadge(w.level, { drill: w.drill }),
          el("span", { class: "badge none" }, w.state),
          w.pending_level ? el("span", { class: "badge pending" }, `pending: ${changeWord(w.pending_kind)} to ${levelName(w.pending_level)}`) : null,
          w.acknowledged_at
            ? el("span", { class: "badge none", title: w.acknowledged_by || "" }, `acknowledged ${fmtTime(w.acknowledged_at, zone)}`)
            : el("span", { class: "badge", style: { background: "#fff4e5", color: "#8a4b00" } }, "not acknowledged"),
        ),
        el(
          "div",
          { class: "item-meta" },
          windowMeta(w),
          w.issued_at ? el("span", {}, `issued ${fmtTime(w.issued_at, zone)}`) : null,
          w.lead_hours !== undefined && w.lead_hours !== null ? el("span", {}, `lead ${fmtHours(w.lead_hours)}`) : null,
        ),
        reasonBlock(w),
        actionsBlock(actions, zone),
      );
      const higher = LEVEL_ORDER.slice(LEVEL_ORDER.indexOf(w.level) + 1);
      item.append(
        el(
          "div",
          { class: "buttons" },
          higher.length
            ? el("button", { class: "btn", type: "button", "data-action": "upgrade", onclick: () => openUpgrade(item, w, higher) }, "Upgrade…")
            : null,
          el("button", { class: "btn btn-danger", type: "button", "data-action": "lift", onclick: () => openLift(item, w) }, "Lift…"),
        ),
      );
      return item;
    }),
  );
}

function actionsBlock(actions, zone) {
  if (!actions.length) return el("p", { class: "empty" }, "No actions listed for this level.");
  return el(
    "details",
    { class: "actions" },
    el("summary", {}, `${actions.length} actions from the city's contingency plan`),
    el(
      "ol",
      { class: "action-list" },
      actions.map((a) => {
        const department = a.department_en || a.department || a.department_zh || "";
        const quantity = a.quantity && typeof a.quantity === "object"
          ? Object.entries(a.quantity).map(([k, v]) => `${k} ${v}`).join(", ")
          : a.quantity;
        return el(
          "li",
          {},
          a.sector ? el("span", { class: "sector" }, a.sector.replaceAll("_", " ")) : null,
          a.text_en || a.text_zh,
          a.text_en && a.text_zh ? el("span", { class: "zh" }, ` ${a.text_zh}`) : null,
          quantity ? el("span", { class: "dept" }, ` (${quantity})`) : null,
          el("div", { class: "dept" }, department, " · ", el("span", { class: "when" }, `from ${fmtTime(a.effective_at_utc || a.effective_at, zone)}`)),
        );
      }),
    ),
  );
}

function renderFlags(latest, unacked, subscriptions) {
  const flags = [];
  const unackedList = items(unacked);
  if (unackedList.length) {
    flags.push(
      el(
        "div",
        { class: "flag danger", "data-flag": "unacknowledged" },
        el("span", { class: "icon" }, "!"),
        el(
          "div",
          {},
          el("strong", {}, `${unackedList.length} warning(s) not acknowledged by the city office`),
          el(
            "ul",
            {},
            unackedList.map((w) =>
              el("li", {}, cityLabel(w.city_code), " ", levelBadge(w.level), ` since ${fmtTime(w.issued_at || w.level_since || w.effective, cityZone(w.city_code))}`),
            ),
          ),
        ),
      ),
    );
  }
  const disabled = items(subscriptions).filter((s) => s.disabled_at || s.active === false);
  if (disabled.length) {
    flags.push(
      el(
        "div",
        { class: "flag", "data-flag": "disabled-endpoints" },
        el("span", { class: "icon" }, "!"),
        el(
          "div",
          {},
          el("strong", {}, `${disabled.length} webhook endpoint(s) disabled: their city offices receive nothing`),
          el(
            "ul",
            {},
            disabled.map((s) =>
              el("li", {}, el("span", { class: "mono" }, s.url), ` — ${s.owner_name || "?"}, ${s.disabled_reason || "disabled"} ${fmtTime(s.disabled_at, "Asia/Shanghai")}`),
            ),
          ),
        ),
      ),
    );
  }
  if (latest.status === "rejected" && latest.reason instanceof ApiError && latest.reason.status === 404) {
    flags.push(
      el(
        "div",
        { class: "flag info", "data-flag": "no-run" },
        el("span", { class: "icon" }, "i"),
        el("div", {}, el("strong", {}, "No forecast run yet"), "The city table fills in after the first forecast run."),
      ),
    );
  }
  const clock = state.meta && state.meta.clock;
  if (clock && clock.offset_seconds) {
    const now = serviceNow().toISOString();
    flags.push(
      el(
        "div",
        { class: "flag info", "data-flag": "replay-clock" },
        el("span", { class: "icon" }, "i"),
        el("div", {}, el("strong", {}, `Replay: the service clock reads ${fmtTime(now, "Asia/Shanghai")}`), "This server replays a past episode (hazewarn demo); every time below is on that clock."),
      ),
    );
  }
  if (!apiKey()) {
    flags.push(
      el(
        "div",
        { class: "flag info", "data-flag": "no-key" },
        el("span", { class: "icon" }, "i"),
        el("div", {}, el("strong", {}, "Read-only"), "Enter a duty-officer API key (top right) to approve, reject, upgrade or lift warnings. `hazewarn keys create --role duty_officer --name …` makes one."),
      ),
    );
  }
  replace($("#flags"), flags);
}

async function renderSkill(latest) {
  const box = $("#skill");
  if (latest.status !== "fulfilled") {
    replace(box, emptyNote("No skill scores: no forecast run yet."));
    return;
  }
  const codes = latest.value.cities.map((c) => c.city.code).slice(0, SKILL_CITIES_MAX);
  const results = await Promise.allSettled(codes.map((code) => api(`/v1/cities/${code}/skill`, { auth: false })));
  const rows = [];
  let caption = null;
  results.forEach((result, index) => {
    if (result.status !== "fulfilled" || !result.value.window) return;
    const skill = result.value;
    if (!caption) {
      const zone = cityZone(codes[index]);
      caption = el(
        "p",
        { class: "hint" },
        `Window ${skill.window}: ${skill.run_count} run(s) issued ${fmtTime(skill.window_start, zone)} to ${fmtTime(skill.window_end, zone)}; RMSE and bias in µg/m³, n = days scored.`,
      );
    }
    for (const d of skill.daily) {
      rows.push(
        el(
          "tr",
          {},
          el("td", {}, `${cityLabel(codes[index])} D+${d.lead}`),
          el("td", {}, d.rmse === null ? "—" : d.rmse.toFixed(1)),
          el("td", {}, d.bias === null ? "—" : d.bias.toFixed(1)),
          el("td", {}, d.csi_75 === null ? "—" : d.csi_75.toFixed(2)),
          el("td", {}, d.csi_150 === null ? "—" : d.csi_150.toFixed(2)),
          el("td", {}, d.n),
        ),
      );
    }
  });
  if (!rows.length) {
    replace(box, emptyNote("Not verified yet: `hazewarn verify` scores runs once their observations have arrived."));
    return;
  }
  replace(
    box,
    caption,
    el(
      "table",
      { class: "skill" },
      el("thead", {}, el("tr", {}, ["Daily mean", "RMSE", "bias", "CSI>75", "CSI>150", "n"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows),
    ),
  );
}

// ------------------------------------------------------------------ writes

function requireKey() {
  if (apiKey()) return true;
  toast("Enter a duty-officer API key first (top right).", "error");
  $("#api-key").focus();
  return false;
}

async function write(path, body, done) {
  if (!requireKey()) return;
  state.busy = true;
  try {
    await api(path, { method: "POST", body });
    toast(done);
  } catch (error) {
    toast(`${error.title || "Refused"}: ${error.message}`, "error");
  } finally {
    state.busy = false;
    await load();
  }
}

function approve(proposal) {
  return write(`/v1/proposals/${proposal.id}/approve`, {}, `Approved: ${cityLabel(proposal.city_code)} ${proposal.pending_level || proposal.level}`);
}

/** A small form under an item: a reason (and maybe a level), confirm or cancel. */
function openForm(item, { label, confirm, danger = false, levels = null, onConfirm }) {
  if (!requireKey()) return;
  const existing = item.querySelector(".inline-form");
  if (existing) existing.remove();
  state.busy = true;
  const reason = el("input", { type: "text", placeholder: label, "aria-label": label, "data-testid": "reason" });
  const select = levels
    ? el("select", { "aria-label": "level" }, levels.map((l) => el("option", { value: l }, levelInfo(l) ? `${levelInfo(l).name_en} ${levelInfo(l).name_zh}` : l)))
    : null;
  const form = el(
    "form",
    { class: "inline-form" },
    select,
    reason,
    el("button", { type: "submit", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, "data-action": "confirm" }, confirm),
    el("button", { type: "button", class: "btn", onclick: () => { form.remove(); state.busy = false; } }, "Cancel"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!reason.value.trim()) {
      toast("Give a reason: it goes into the audit trail.", "error");
      reason.focus();
      return;
    }
    form.remove();
    state.busy = false;
    onConfirm(reason.value.trim(), select ? select.value : null);
  });
  item.append(form);
  (select || reason).focus();
}

function openReject(item, proposal) {
  openForm(item, {
    label: "Reason for rejecting (required)",
    confirm: "Reject",
    danger: true,
    onConfirm: (reason) => write(`/v1/proposals/${proposal.id}/reject`, { reason }, `Rejected: ${cityLabel(proposal.city_code)}`),
  });
}

function openUpgrade(item, warning, higher) {
  openForm(item, {
    label: "Reason for the upgrade (required)",
    confirm: "Upgrade",
    levels: higher,
    onConfirm: (reason, level) => write(`/v1/warnings/${warning.id}/upgrade`, { level, reason }, `Upgraded: ${cityLabel(warning.city_code)} to ${level}`),
  });
}

function openLift(item, warning) {
  openForm(item, {
    label: "Reason for lifting (required)",
    confirm: "Lift warning",
    danger: true,
    onConfirm: (reason) => write(`/v1/warnings/${warning.id}/lift`, { reason }, `Lifted: ${cityLabel(warning.city_code)}`),
  });
}

// ------------------------------------------------------------------ start

function setupKeyForm() {
  const input = $("#api-key");
  input.value = apiKey();
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
    load();
  });
  $("#key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    input.value = "";
    load();
  });
}

async function start() {
  setupKeyForm();
  try {
    state.meta = await api("/dashboard/meta.json", { auth: false });
  } catch (error) {
    toast(`could not load display settings: ${error.message}`, "error");
  }
  renderLegend();
  await load();
  setInterval(load, REFRESH_MS);
}

start();
