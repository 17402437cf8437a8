// A city's detail: the hourly forecast chart with observations and thresholds, the daily
// AQI bars with exceedance probabilities, the warning in force with its actions, and the
// forecast's own track record (skill of the latest run when verified, else the latest
// verified window).
import { t } from "./i18n.js";
import {
  $,
  api,
  ApiError,
  categoryOf,
  cityLabel,
  cityZone,
  el,
  emptyNote,
  fmtTime,
  levelBadge,
  replace,
  serviceNow,
  state,
} from "./common.js";
import { drawChart, drawDailyBars } from "./svg.js";

/** µg/m³ thresholds drawn on the chart, coloured like the AQI categories they start. */
const THRESHOLDS = [75, 115, 150, 250];
const HOUR = 3.6e6;
const OBSERVED_BEFORE_ISSUE_H = 48;
const MAX_OBSERVED_SPAN_H = 14 * 24;

function thresholdColour(value) {
  // The category of the daily AQI just above the threshold (75 µg/m³ -> AQI 100 -> 101).
  const aqiAbove = { 75: 101, 115: 151, 150: 201, 250: 301 }[value];
  const category = categoryOf(aqiAbove);
  return category ? category.colour_hex : "#888888";
}

async function settle(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The skill of the latest run when it is verified, else the default (latest verified) window. */
async function trackRecord(code, latestRunId) {
  if (latestRunId) {
    const own = await settle(api(`/v1/cities/${code}/skill?window=run:${latestRunId}`, { auth: false }));
    if (own.ok && own.value.window) return { skill: own.value, ofLatest: true };
  }
  const pooled = await settle(api(`/v1/cities/${code}/skill`, { auth: false }));
  return { skill: pooled.ok ? pooled.value : null, ofLatest: false };
}

/** Rows of the track-record table: every metric any lead has (POD/FAR/CSI/Brier when served). */
function skillTable(skill) {
  const days = skill.daily || [];
  const known = ["rmse", "mae", "bias"];
  const keys = new Set();
  for (const day of days) {
    for (const [key, value] of Object.entries(day)) {
      if (key === "lead" || key === "n" || value === null || typeof value !== "number") continue;
      keys.add(key);
    }
  }
  const tiered = [...keys].filter((k) => !known.includes(k)).sort((a, b) => {
    const [ma, ta] = a.split("_");
    const [mb, tb] = b.split("_");
    return Number(ta) - Number(tb) || ma.localeCompare(mb);
  });
  const metrics = [...known.filter((k) => keys.has(k)), ...tiered];
  const label = (key) => {
    const [name, tier] = key.split("_");
    const upper = name.toUpperCase();
    const pretty = { RMSE: "RMSE", MAE: "MAE", BIAS: "bias", BRIER: "Brier" }[upper] || upper;
    return tier ? `${pretty} >${tier}` : pretty;
  };
  const format = (key, value) => (value === null || value === undefined ? "—" : key.startsWith("rmse") || key.startsWith("mae") || key.startsWith("bias") ? value.toFixed(1) : value.toFixed(2));
  return el(
    "table",
    { class: "skill", "data-testid": "track-record" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("metric")), days.map((d) => el("th", { scope: "col" }, `D+${d.lead}`)))),
    el(
      "tbody",
      {},
      metrics.map((key) =>
        el("tr", { "data-metric": key }, el("th", { scope: "row" }, label(key)), days.map((d) => el("td", {}, format(key, d[key])))),
      ),
      el("tr", {}, el("th", { scope: "row" }, "n"), days.map((d) => el("td", {}, d.n))),
    ),
  );
}

function probabilityTable(days) {
  return el(
    "table",
    { class: "probs", "data-testid": "probabilities" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "µg/m³"), days.map((d) => el("th", { scope: "col" }, `D+${d.lead_day}`)))),
    el(
      "tbody",
      {},
      THRESHOLDS.map((value) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, t("pGt", value)),
          days.map((d) => {
            const p = d[`p_gt_${value}`];
            return el("td", { class: p >= 0.5 ? "hot" : "" }, p === null || p === undefined ? "—" : `${Math.round(p * 100)} %`);
          }),
        ),
      ),
    ),
  );
}

/**
 * Render the detail of `code` into #detail. context: {latestRunId, warning (active, own),
 * regionalLevel, actionsBlock(actions, zone)}.
 */
export async function renderDetail(code, context) {
  const box = $("#detail");
  const zone = cityZone(code);
  box.dataset.city = code;
  replace(box, el("h3", { class: "detail-title" }, cityLabel(code)), emptyNote(t("loading")));
  const forecast = await settle(api(`/v1/cities/${code}/forecast`, { auth: false }));
  if (box.dataset.city !== code) return; // another city was chosen meanwhile
  const parts = [
    el(
      "div",
      { class: "detail-head" },
      el("h3", { class: "detail-title", id: "detail-title" }, cityLabel(code)),
      el("button", { type: "button", class: "btn btn-quiet", "data-action": "close-detail", onclick: () => context.onClose() }, t("close")),
    ),
  ];
  let observed = { ok: false };
  if (forecast.ok) {
    const issued = new Date(forecast.value.issued_at).getTime();
    const start = issued - OBSERVED_BEFORE_ISSUE_H * HOUR;
    const end = Math.min(serviceNow().getTime(), start + MAX_OBSERVED_SPAN_H * HOUR);
    if (end > start) {
      const query = new URLSearchParams({ start: new Date(start).toISOString(), end: new Date(end).toISOString() });
      observed = await settle(api(`/dashboard/cities/${code}/observed.json?${query}`, { auth: false }));
    }
  }
  const record = await trackRecord(code, context.latestRunId);
  if (box.dataset.city !== code) return;

  if (forecast.ok) {
    const f = forecast.value;
    const hourly = f.hourly.map((h) => ({ t: new Date(h.valid_time).getTime(), p10: h.p10, p50: h.p50, p90: h.p90 }));
    const obs = observed.ok ? observed.value.hours.map((h) => ({ t: new Date(h.time).getTime(), pm25: h.pm25 })) : [];
    parts.push(
      el("p", { class: "hint" }, `${t("run")} #${f.run.id} · ${t("issuedAt")} ${fmtTime(f.issued_at, zone)}`),
      el(
        "div",
        { class: "chart-wrap" },
        drawChart({
          hourly,
          observed: obs,
          thresholds: THRESHOLDS.map((value) => ({ value, colour: thresholdColour(value) })),
          issuedAt: new Date(f.issued_at).getTime(),
          now: serviceNow().getTime(),
          zone,
          title: t("chartTitle", cityLabel(code)),
          desc: t("chartDesc"),
          labels: { band: t("band"), median: t("median"), observed: t("observed"), now: t("now") },
          widthHint: box.clientWidth,
        }),
      ),
    );
    const days = f.daily.filter((d) => d.lead_day >= 1 && d.lead_day <= 3);
    if (days.length) {
      parts.push(
        el("h4", {}, t("daily")),
        el(
          "div",
          { class: "daily-row" },
          drawDailyBars({
            days,
            colourOf: (aqi) => {
              const category = categoryOf(aqi);
              return category ? category.colour_hex : "#dddddd";
            },
            title: t("daily"),
          }),
          probabilityTable(days),
        ),
      );
    }
  } else {
    const missing = forecast.error instanceof ApiError && forecast.error.status === 404;
    parts.push(emptyNote(missing ? t("noForecastCity") : t("couldNotLoad", "forecast", forecast.error.message)));
  }

  parts.push(el("h4", {}, t("inForce")));
  const warning = context.warning;
  if (warning) {
    parts.push(
      el(
        "div",
        { class: "item-head" },
        levelBadge(warning.level, { drill: warning.drill }),
        el("span", {}, t("from", fmtTime(warning.effective, zone))),
        el("span", {}, t("to", fmtTime(warning.expires, zone))),
      ),
      context.actionsBlock(warning.actions || [], zone),
    );
  } else {
    parts.push(emptyNote(t("noneInForce")));
  }
  if (context.regionalLevel) parts.push(el("p", { class: "hint" }, t("regionalInForce", ""), levelBadge(context.regionalLevel)));

  parts.push(el("h4", {}, t("trackRecord")));
  const skill = record.skill;
  if (skill && skill.window && (skill.daily || []).length) {
    if (!record.ofLatest && context.latestRunId) parts.push(el("p", { class: "hint" }, t("skillLatestPending", context.latestRunId)));
    parts.push(
      el(
        "p",
        { class: "hint" },
        record.ofLatest
          ? t("skillLatest", context.latestRunId)
          : t("skillPooled", skill.window, skill.run_count, fmtTime(skill.window_start, zone), fmtTime(skill.window_end, zone)),
      ),
      skillTable(skill),
    );
  } else {
    parts.push(emptyNote(t("notVerified")));
  }
  replace(box, parts);
}
