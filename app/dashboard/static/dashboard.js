// hazewarn dashboard: map, city detail, duty desk, city office, regions, delivery health.
// Vanilla JavaScript modules, no build step, nothing from another host. Reads the /v1 API;
// writes send the API key kept in localStorage as a Bearer token (Authorization header).
// Shows only the actions the signed-in key may take (/v1/auth/me).
import { lang, setLang, t, translatePage } from "./i18n.js";
import {
  $,
  ApiError,
  KEY_STORAGE,
  LEVEL_ORDER,
  aqiChip,
  api,
  apiKey,
  cityLabel,
  cityName,
  cityZone,
  el,
  emptyNote,
  errorNote,
  fmtDay,
  fmtDuration,
  fmtTime,
  higher,
  inkOn,
  isStaff,
  items,
  levelBadge,
  levelColour,
  levelName,
  levelOptions,
  mayAcknowledge,
  openForm,
  replace,
  role,
  serviceNow,
  state,
  toast,
  write,
} from "./common.js";
import { renderDetail } from "./detail.js";
import { loadRegions, regionalLevels, renderRegions } from "./regions.js";
import { drawMap } from "./svg.js";

const REFRESH_MS = 60_000;
const NO_KEY = () => Promise.reject(new ApiError(401, "", "no key"));
const HOUR_MS = 3.6e6;

const view = {
  selected: null, // city code of the open detail
  showAllCities: false,
  latest: null, // settled /v1/forecasts/latest
  active: [], // active warnings
  ownLevels: new Map(), // city -> highest own active level (drills excluded)
  regional: new Map(), // city -> regional level in force
  registryRegions: [], // [{id, label, members}] from /v1/cities
};

// ------------------------------------------------------------------ loading

async function load() {
  if (state.busy) return;
  const staff = () => Boolean(apiKey());
  const [cities, latest, active, proposals, unacked, health, me, regions] = await Promise.allSettled([
    api("/v1/cities", { auth: false }),
    api("/v1/forecasts/latest", { auth: false }),
    // With a refused key, still show what the public sees.
    api("/v1/warnings?active=true&limit=200").catch((error) =>
      error instanceof ApiError && error.status === 401 ? api("/v1/warnings?active=true&limit=200", { auth: false }) : Promise.reject(error),
    ),
    staff() ? api("/v1/proposals") : NO_KEY(),
    staff() ? api("/v1/warnings/unacknowledged") : NO_KEY(),
    staff() ? api("/v1/subscriptions/health") : NO_KEY(),
    staff() ? api("/v1/auth/me") : Promise.resolve(null),
    loadRegions(),
  ]);
  if (cities.status === "fulfilled") state.cities = new Map(cities.value.items.map((c) => [c.code, c]));
  state.principal = me.status === "fulfilled" ? me.value : null;
  view.latest = latest;
  view.active = items(active);
  view.ownLevels = new Map();
  for (const w of view.active) if (!w.drill) view.ownLevels.set(w.city_code, higher(view.ownLevels.get(w.city_code), w.level));
  view.regional = regions.status === "fulfilled" ? regionalLevels(regions.value) : new Map();
  view.registryRegions = registryRegions(cities);

  applyRoles();
  renderWhoami(me);
  renderFlags(latest, unacked, health);
  renderMap(cities);
  renderProposals(proposals);
  renderAcks(active, unacked);
  renderWarnings(active);
  renderOffice();
  renderRegions(regions, view.ownLevels, view.registryRegions);
  renderHealth(health);
  renderRun(latest);
  renderCities(cities, latest);
  await renderSkill(latest);
  if (view.selected) await openDetail(view.selected, { focus: false });
  $("#refreshed").textContent = t("updated", fmtTime(serviceNow().toISOString(), "Asia/Shanghai"));
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

function registryRegions(cities) {
  if (cities.status !== "fulfilled") return [];
  const groups = new Map();
  for (const city of cities.value.items) {
    for (const code of city.regions || []) {
      if (!groups.has(code)) groups.set(code, []);
      groups.get(code).push(city.code);
    }
  }
  return [...groups.entries()].map(([id, members]) => ({ id, label: id, short: id, members }));
}

function effectiveLevel(code) {
  return higher(view.ownLevels.get(code), view.regional.get(code));
}

/** Show the parts for the signed-in role only (staff, city office). */
function applyRoles() {
  for (const node of document.querySelectorAll("[data-role]")) {
    const wanted = node.dataset.role;
    node.hidden = !(wanted === "staff" ? isStaff() : role() === wanted);
  }
  document.body.dataset.viewer = role() || "public";
}

function renderWhoami(me) {
  const box = $("#whoami");
  box.className = "whoami";
  if (!apiKey()) {
    box.textContent = t("readOnly");
  } else if (me.status === "fulfilled" && me.value) {
    box.textContent = `${me.value.name} · ${me.value.role}`;
    box.classList.add("signed-in");
  } else {
    box.textContent = t("keyRefused");
    box.classList.add("bad");
  }
}

// ------------------------------------------------------------------ map and detail

function renderMap(cities) {
  const box = $("#map");
  if (cities.status !== "fulfilled") {
    replace(box, errorNote(cities.reason, t("cities")));
    return;
  }
  const list = cities.value.items.map((city) => {
    const level = effectiveLevel(city.code);
    const name = lang() === "zh" ? city.name_zh : city.name_en;
    return {
      code: city.code,
      lat: city.lat,
      lon: city.lon,
      label: name,
      level,
      colour: level ? levelColour(level) : "#c7ced8",
      title: `${cityLabel(city.code)}: ${level ? levelName(level) : t("noLevel")}`,
    };
  });
  const warned = list.filter((c) => c.level).length;
  $("#map-count").textContent = warned ? `${warned}` : "";
  replace(box, drawMap({ cities: list, groups: view.registryRegions, selected: view.selected, onSelect: (code) => openDetail(code), title: t("mapTitle"), widthHint: box.clientWidth }));
  const legend = [el("span", {}, t("levelLegend"))];
  for (const code of LEVEL_ORDER) {
    legend.push(el("span", {}, el("span", { class: "swatch", style: { background: levelColour(code) } }), levelName(code)));
  }
  legend.push(el("span", {}, el("span", { class: "swatch", style: { background: "#c7ced8" } }), t("noLevel")));
  replace($("#map-legend"), legend);
}

async function openDetail(code, { focus = true } = {}) {
  const changed = view.selected !== code;
  view.selected = code;
  for (const dot of document.querySelectorAll("#map .city-dot")) dot.classList.toggle("selected", dot.dataset.city === code);
  const warning = view.active
    .filter((w) => w.city_code === code && !w.drill)
    .sort((a, b) => LEVEL_ORDER.indexOf(b.level) - LEVEL_ORDER.indexOf(a.level))[0];
  const latestRunId = view.latest && view.latest.status === "fulfilled" ? view.latest.value.run.id : null;
  await renderDetail(code, {
    latestRunId,
    warning,
    regionalLevel: view.regional.get(code) || null,
    actionsBlock,
    onClose: () => {
      view.selected = null;
      replace($("#detail"), emptyNote(t("pickCity")));
      delete $("#detail").dataset.city;
    },
  });
  if (focus && changed) $("#detail").focus({ preventScroll: false });
}

// ------------------------------------------------------------------ duty desk

function reasonBlock(item) {
  if (!item.reason_en && !item.reason_zh) return null;
  const first = lang() === "zh" ? item.reason_zh : item.reason_en;
  const second = lang() === "zh" ? item.reason_en : item.reason_zh;
  return el("div", { class: "reason" }, first ? el("span", {}, first) : null, second ? el("span", { class: "zh" }, second) : null);
}

function windowMeta(item) {
  const zone = cityZone(item.city_code);
  return [
    el("span", {}, t("from", fmtTime(item.effective, zone))),
    el("span", {}, t("to", fmtTime(item.expires, zone))),
    item.aqi_forecast !== undefined && item.aqi_forecast !== null ? el("span", {}, t("aqiUpTo", item.aqi_forecast)) : null,
  ];
}

/** Hours a waiting proposal is past its approve-by time (0 when not late). */
function hoursLate(p) {
  if (!p.issue_by) return 0;
  const late = serviceNow().getTime() - new Date(p.issue_by).getTime();
  return late > 0 ? late / HOUR_MS : 0;
}

function renderProposals(result) {
  const box = $("#proposals");
  const count = $("#proposals-count");
  if (result.status !== "fulfilled") {
    count.textContent = "";
    replace(box, errorNote(result.reason, t("proposals")));
    return;
  }
  const list = items(result);
  count.textContent = list.length ? String(list.length) : "";
  count.classList.toggle("hot", list.length > 0);
  if (!list.length) {
    replace(box, emptyNote(t("noProposal")));
    return;
  }
  replace(
    box,
    list.map((p) => {
      const zone = cityZone(p.city_code);
      const level = p.pending_level || p.level;
      const late = hoursLate(p);
      const item = el(
        "div",
        { class: `item proposal${late ? " is-late" : ""}`, "data-proposal": p.id, "data-city": p.city_code, "data-late": late || p.late ? "true" : "false" },
        el(
          "div",
          { class: "item-head" },
          el("span", { class: "city" }, cityLabel(p.city_code)),
          levelBadge(level, { drill: p.drill, suffix: p.pending_kind && p.pending_kind !== "issued" ? ` (${p.pending_kind})` : "" }),
          late ? el("span", { class: "badge late" }, t("lateBy", Math.floor(late))) : p.late ? el("span", { class: "badge late" }, t("late")) : null,
        ),
        el("div", { class: "item-meta" }, windowMeta(p), p.issue_by ? el("span", {}, t("approveBy", fmtTime(p.issue_by, zone))) : null),
        reasonBlock(p),
      );
      if (isStaff()) {
        item.append(
          el(
            "div",
            { class: "buttons" },
            el("button", { class: "btn btn-primary", type: "button", "data-action": "approve", onclick: () => write(`/v1/proposals/${p.id}/approve`, {}, `${t("approve")} ${cityLabel(p.city_code)}`) }, t("approve")),
            el("button", { class: "btn btn-danger", type: "button", "data-action": "reject", onclick: () => openForm(item, { confirm: t("rejectConfirm"), danger: true, onConfirm: ({ reason }) => write(`/v1/proposals/${p.id}/reject`, { reason }, cityLabel(p.city_code)) }) }, t("reject")),
          ),
        );
      }
      return item;
    }),
  );
}

function actionsBlock(actions, zone) {
  if (!actions.length) return emptyNote(t("noActions"));
  return el(
    "details",
    { class: "actions" },
    el("summary", {}, t("actionsCount", actions.length)),
    el(
      "ol",
      { class: "action-list" },
      actions.map((a) => {
        const zh = lang() === "zh";
        const department = (zh ? a.department_zh : a.department_en) || a.department || a.department_zh || "";
        const quantity = a.quantity && typeof a.quantity === "object" ? Object.entries(a.quantity).map(([k, v]) => `${k} ${v}`).join(", ") : a.quantity;
        return el(
          "li",
          {},
          a.sector ? el("span", { class: "sector" }, a.sector.replaceAll("_", " ")) : null,
          (zh ? a.text_zh : a.text_en) || a.text_en || a.text_zh,
          quantity ? el("span", { class: "dept" }, ` (${quantity})`) : null,
          el("div", { class: "dept" }, department, " · ", el("span", { class: "when" }, t("from", fmtTime(a.effective_at_utc || a.effective_at, zone)))),
        );
      }),
    ),
  );
}

function ackBadge(w, overdue) {
  const zone = cityZone(w.city_code);
  if (w.acknowledged_at) return el("span", { class: "badge ack", title: w.acknowledged_by || "" }, t("acknowledged", fmtTime(w.acknowledged_at, zone)));
  return el("span", { class: `badge unack${overdue ? " overdue" : ""}` }, t("notAcknowledged"), overdue ? ` · ${t("overdueAck")}` : "");
}

function renderAcks(active, unacked) {
  const box = $("#acks");
  if (!isStaff()) return;
  const overdue = new Set(items(unacked).map((w) => w.id));
  const list = items(active).filter((w) => w.issued_at);
  if (!list.length) {
    replace(box, emptyNote(t("noWarning")));
    return;
  }
  replace(
    box,
    el(
      "table",
      { class: "acks" },
      el("thead", {}, el("tr", {}, [t("office"), t("level"), t("status")].map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        list.map((w) =>
          el(
            "tr",
            { "data-ack": w.city_code, "data-acknowledged": w.acknowledged_at ? "true" : "false" },
            el("th", { scope: "row" }, cityLabel(w.city_code)),
            el("td", {}, levelBadge(w.level, { drill: w.drill })),
            el("td", {}, ackBadge(w, overdue.has(w.id)), w.acknowledged_by ? el("span", { class: "dept" }, ` ${w.acknowledged_by}`) : null),
          ),
        ),
      ),
    ),
  );
}

/** The officer's buttons on an active warning: upgrade, downgrade, extend, lift. */
function officerButtons(item, w) {
  const index = LEVEL_ORDER.indexOf(w.level);
  const up = LEVEL_ORDER.slice(index + 1);
  const down = LEVEL_ORDER.slice(0, index);
  const name = cityLabel(w.city_code);
  const extendTo = (hours) => new Date(new Date(w.expires).getTime() + hours * HOUR_MS).toISOString();
  return el(
    "div",
    { class: "buttons" },
    up.length
      ? el("button", { class: "btn", type: "button", "data-action": "upgrade", onclick: () => openForm(item, { confirm: t("confirm"), fields: [{ name: "level", label: t("newLevel"), options: levelOptions(up) }], onConfirm: ({ level, reason }) => write(`/v1/warnings/${w.id}/upgrade`, { level, reason }, `${name} → ${levelName(level)}`) }) }, t("upgrade"))
      : null,
    down.length
      ? el("button", { class: "btn", type: "button", "data-action": "downgrade", onclick: () => openForm(item, { confirm: t("confirm"), fields: [{ name: "level", label: t("newLevel"), options: levelOptions([...down].reverse()) }], onConfirm: ({ level, reason }) => write(`/v1/warnings/${w.id}/downgrade`, { level, reason }, `${name} → ${levelName(level)}`) }) }, t("downgrade"))
      : null,
    el("button", { class: "btn", type: "button", "data-action": "extend", onclick: () => openForm(item, { confirm: t("confirm"), fields: [{ name: "hours", label: t("extendBy"), options: [12, 24, 48].map((h) => [String(h), t("hours", h)]) }], onConfirm: ({ hours, reason }) => write(`/v1/warnings/${w.id}/extend`, { until: extendTo(Number(hours)), reason }, `${name} +${hours} h`) }) }, t("extend")),
    el("button", { class: "btn btn-danger", type: "button", "data-action": "lift", onclick: () => openForm(item, { confirm: t("liftConfirm"), danger: true, onConfirm: ({ reason }) => write(`/v1/warnings/${w.id}/lift`, { reason }, name) }) }, t("lift")),
  );
}

function warningItem(w) {
  const zone = cityZone(w.city_code);
  const item = el(
    "div",
    { class: "item warning", "data-warning": w.id, "data-city": w.city_code },
    el(
      "div",
      { class: "item-head" },
      el("button", { type: "button", class: "city linkish", "data-action": "show-city", onclick: () => openDetail(w.city_code) }, cityLabel(w.city_code)),
      levelBadge(w.level, { drill: w.drill }),
      el("span", { class: "badge none" }, w.state),
      w.pending_level ? el("span", { class: "badge pending" }, t("pending", w.pending_kind, levelName(w.pending_level))) : null,
      ackBadge(w, false),
    ),
    el(
      "div",
      { class: "item-meta" },
      windowMeta(w),
      w.issued_at ? el("span", {}, t("issued", fmtTime(w.issued_at, zone))) : null,
      w.lead_hours !== undefined && w.lead_hours !== null ? el("span", {}, t("leadTime", `${Math.round(w.lead_hours)} h`)) : null,
    ),
    w.late ? el("div", {}, el("span", { class: "badge late" }, t("late"))) : null,
    reasonBlock(w),
    actionsBlock(w.actions || [], zone),
  );
  if (isStaff()) item.append(officerButtons(item, w));
  if (mayAcknowledge(w.city_code) && !w.acknowledged_at) {
    item.append(el("div", { class: "buttons" }, el("button", { class: "btn btn-primary", type: "button", "data-action": "ack", onclick: () => write(`/v1/warnings/${w.id}/ack`, undefined, `${t("acknowledge")} ${cityLabel(w.city_code)}`) }, t("acknowledge"))));
  }
  return item;
}

function renderWarnings(result) {
  const box = $("#warnings");
  const count = $("#warnings-count");
  if (result.status !== "fulfilled") {
    count.textContent = "";
    replace(box, errorNote(result.reason, t("activeWarnings")));
    return;
  }
  const list = items(result);
  count.textContent = list.length ? String(list.length) : "";
  replace(box, list.length ? list.map(warningItem) : emptyNote(t("noWarning")));
}

function renderOffice() {
  if (role() !== "city_office") return;
  const scope = state.principal.scope_cities || [];
  const mine = view.active.filter((w) => scope.includes(w.city_code));
  replace(
    $("#office"),
    el("p", { class: "hint" }, t("yourCities", scope.map(cityName).join(", "))),
    mine.length
      ? mine.map((w) =>
          el(
            "div",
            { class: "item", "data-office-warning": w.id },
            el("div", { class: "item-head" }, el("span", { class: "city" }, cityLabel(w.city_code)), levelBadge(w.level, { drill: w.drill }), ackBadge(w, false)),
          ),
        )
      : emptyNote(t("nothingForYou")),
  );
}

// ------------------------------------------------------------------ delivery health

function renderHealth(result) {
  const box = $("#health");
  const count = $("#health-count");
  if (!isStaff()) return;
  if (result.status !== "fulfilled") {
    replace(box, errorNote(result.reason, t("healthTitle")));
    return;
  }
  const h = result.value;
  const bad = h.endpoints.filter((e) => e.failing || !e.active);
  count.textContent = bad.length ? String(bad.length) : "";
  count.classList.toggle("hot", bad.length > 0);
  const outbox = el("p", { class: "hint", "data-testid": "outbox" }, t("outbox", h.outbox_pending, h.oldest_pending_age_seconds ? fmtDuration(h.oldest_pending_age_seconds) : ""));
  if (!h.endpoints.length) {
    replace(box, outbox, emptyNote(t("noEndpoints")));
    return;
  }
  replace(
    box,
    outbox,
    el(
      "div",
      { class: "endpoint-list" },
      h.endpoints.map((e) => {
        const status = !e.active ? "disabled" : e.failing ? "failing" : "ok";
        const label = { ok: t("healthOk"), failing: t("healthFailing"), disabled: t("healthDisabled") }[status];
        return el(
          "div",
          { class: `endpoint ${status}`, "data-endpoint": e.id, "data-health": status },
          el("div", { class: "item-head" }, el("span", { class: `badge health-${status}` }, label), el("span", { class: "mono url" }, e.url)),
          el(
            "dl",
            { class: "facts compact" },
            el("dt", {}, t("owner")),
            el("dd", {}, `${e.owner_name} (${e.owner_role})`),
            el("dt", {}, t("lastSuccess")),
            el("dd", {}, e.last_success_at ? fmtTime(e.last_success_at) : t("never")),
            el("dt", {}, t("failures")),
            el("dd", { "data-field": "failures" }, e.consecutive_failures),
            el("dt", {}, t("lastError")),
            el("dd", { class: "mono", "data-field": "last-error" }, e.last_error || (e.disabled_reason ? `${e.disabled_reason} ${fmtTime(e.disabled_at)}` : "—")),
          ),
        );
      }),
    ),
  );
}

// ------------------------------------------------------------------ flags, run, skill, cities

function flag(kind, name, icon, title, ...body) {
  return el("div", { class: `flag ${kind}`, "data-flag": name }, el("span", { class: "icon", "aria-hidden": "true" }, icon), el("div", {}, el("strong", {}, title), ...body));
}

function renderFlags(latest, unacked, health) {
  const flags = [];
  const unackedList = items(unacked);
  if (unackedList.length) {
    flags.push(
      flag("danger", "unacknowledged", "!", t("unackedFlag", unackedList.length),
        el("ul", {}, unackedList.map((w) => el("li", {}, cityLabel(w.city_code), " ", levelBadge(w.level), ` ${t("since", fmtTime(w.issued_at || w.level_since || w.effective, cityZone(w.city_code)))}`)))),
    );
  }
  if (health.status === "fulfilled") {
    const bad = health.value.endpoints.filter((e) => e.failing || !e.active);
    if (bad.length) {
      flags.push(
        flag("", "failing-endpoints", "!", t("failingFlag", bad.length),
          el("ul", {}, bad.map((e) => el("li", {}, el("span", { class: "mono url" }, e.url), ` — ${e.owner_name}: ${e.active ? e.last_error : e.disabled_reason || "disabled"}`)))),
      );
    }
  }
  if (latest.status === "rejected" && latest.reason instanceof ApiError && latest.reason.status === 404) {
    flags.push(flag("info", "no-run", "i", t("noRunFlag"), t("noRunFlagText")));
  }
  const clock = state.meta && state.meta.clock;
  if (clock && clock.offset_seconds) {
    flags.push(flag("info", "replay-clock", "i", t("replayFlag", fmtTime(serviceNow().toISOString(), "Asia/Shanghai")), t("replayText")));
  }
  if (!apiKey()) flags.push(flag("info", "no-key", "i", t("readOnlyFlag"), t("readOnlyFlagText")));
  replace($("#flags"), flags);
}

function renderRun(latest) {
  const box = $("#run");
  if (latest.status !== "fulfilled") {
    const missing = latest.reason instanceof ApiError && latest.reason.status === 404;
    replace(box, missing ? emptyNote(t("noRun")) : errorNote(latest.reason, t("runTitle")));
    return;
  }
  const run = latest.value.run;
  replace(
    box,
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, t("run")),
      el("dd", {}, `#${run.id}`, run.drill ? ` (${t("drill")})` : ""),
      el("dt", {}, t("issuedAt")),
      el("dd", {}, fmtTime(run.issued_at)),
      el("dt", {}, t("stored")),
      el("dd", {}, fmtTime(run.created_at)),
      el("dt", {}, t("model")),
      el("dd", { class: "mono" }, run.model_version),
      el("dt", {}, t("cities")),
      el("dd", {}, t("leads", run.city_count, run.max_lead_h)),
      ...(run.degraded
        ? [el("dt", {}, t("degraded")), el("dd", { class: "degraded" }, t("degradedText", (run.degraded_variables || []).join(", ")))]
        : []),
    ),
  );
}

/** The skill summary: per city of the latest run, its latest run's scores when verified,
 * else its latest verified window (the city detail shows every metric). */
async function renderSkill(latest) {
  const box = $("#skill");
  if (latest.status !== "fulfilled") {
    replace(box, emptyNote(t("noSkillNoRun")));
    return;
  }
  const runId = latest.value.run.id;
  const codes = latest.value.cities.map((c) => c.city.code).slice(0, 8);
  const fetchSkill = (code) =>
    api(`/v1/cities/${code}/skill?window=run:${runId}`, { auth: false }).catch(() => api(`/v1/cities/${code}/skill`, { auth: false }));
  const results = await Promise.allSettled(codes.map(fetchSkill));
  const rows = [];
  results.forEach((result, index) => {
    if (result.status !== "fulfilled" || !result.value.window) return;
    const skill = result.value;
    const d1 = (skill.daily || []).find((d) => d.lead === 1);
    if (!d1) return;
    const fixed = (v, n) => (v === null || v === undefined ? "—" : v.toFixed(n));
    rows.push(
      el(
        "tr",
        { "data-skill": codes[index], "data-window": skill.window },
        el("th", { scope: "row" }, cityName(codes[index])),
        el("td", {}, skill.window === `run:${runId}` ? `#${runId}` : skill.window),
        el("td", {}, fixed(d1.rmse, 1)),
        el("td", {}, fixed(d1.csi_150, 2)),
        el("td", {}, fixed(d1.brier_150, 3)),
      ),
    );
  });
  if (!rows.length) {
    replace(box, emptyNote(t("notVerified")));
    return;
  }
  replace(
    box,
    el(
      "table",
      { class: "skill" },
      el("thead", {}, el("tr", {}, [t("city"), "window", "RMSE D+1", "CSI>150", "Brier>150"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows),
    ),
  );
}

function renderLegend() {
  if (!state.meta) return;
  replace(
    $("#legend"),
    el("span", {}, t("aqiCategory")),
    state.meta.aqi_categories.map((c) =>
      el(
        "span",
        {},
        el("span", { class: "chip", style: { background: c.colour_hex, color: inkOn(c.colour_hex) } }, c.level),
        `${lang() === "zh" ? c.name_zh : c.name_en} (${c.aqi_max === null ? `> ${c.aqi_min - 1}` : `${c.aqi_min}–${c.aqi_max}`})`,
      ),
    ),
  );
}

function renderCities(cities, latest) {
  const body = $("#cities tbody");
  if (cities.status !== "fulfilled") {
    replace(body, el("tr", {}, el("td", { colspan: 5 }, errorNote(cities.reason, t("cities")))));
    return;
  }
  const forecastByCity = new Map();
  if (latest.status === "fulfilled") for (const entry of latest.value.cities) forecastByCity.set(entry.city.code, entry.days);
  const firstDays = [...forecastByCity.values()][0] || [];
  for (let lead = 1; lead <= 3; lead++) {
    const day = firstDays.find((d) => d.lead_day === lead);
    replace($(`#h-d${lead}`), `D+${lead}`, day ? el("span", { class: "date" }, fmtDay(day.local_date)) : null);
  }
  // Cities with a level first, then those with a forecast, then the rest; by code.
  const rank = (city) => (effectiveLevel(city.code) ? 0 : 2) + (forecastByCity.has(city.code) ? 0 : 1);
  const rows = [...state.cities.values()].sort((a, b) => rank(a) - rank(b) || a.code.localeCompare(b.code));
  $("#cities-count").textContent = t("withForecast", forecastByCity.size, rows.length);
  const quiet = rows.filter((c) => !forecastByCity.has(c.code) && !effectiveLevel(c.code));
  const fold = forecastByCity.size > 0 && quiet.length > 0;
  const shown = fold && !view.showAllCities ? rows.filter((c) => !quiet.includes(c)) : rows;
  const toggle = fold
    ? el("tr", { class: "more-row" }, el("td", { colspan: 5 }, el("button", { type: "button", class: "btn btn-link", "data-action": "toggle-cities", onclick: () => { view.showAllCities = !view.showAllCities; renderCities(cities, latest); } }, view.showAllCities ? t("hideQuiet", quiet.length) : t("showQuiet", quiet.length))))
    : null;
  replace(
    body,
    shown.map((city) => {
      const days = forecastByCity.get(city.code) || [];
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
      const level = effectiveLevel(city.code);
      return el(
        "tr",
        { "data-city": city.code, class: days.length ? "" : "no-forecast" },
        el(
          "th",
          { scope: "row" },
          el("button", { type: "button", class: "linkish", "data-action": "show-city", onclick: () => openDetail(city.code) }, lang() === "zh" ? city.name_zh : city.name_en),
          lang() === "zh" ? null : el("span", { class: "zh" }, city.name_zh),
        ),
        cells,
        el("td", {}, level ? levelBadge(level, { short: true }) : levelBadge(null)),
      );
    }),
    toggle,
  );
}

// ------------------------------------------------------------------ start

function setupControls() {
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
  $("#lang-switch").addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    translatePage();
    renderLegend();
    load();
  });
}

async function start() {
  state.reload = load;
  translatePage();
  setupControls();
  try {
    state.meta = await api("/dashboard/meta.json", { auth: false });
  } catch (error) {
    toast(t("couldNotLoad", "meta", error.message), "error");
  }
  renderLegend();
  await load();
  setInterval(load, REFRESH_MS);
}

start();
