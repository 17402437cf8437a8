// The coordinator view: each region, its regional warning, and every member's own, regional
// and effective level and compliance (laggards highlighted); approve, reject, adjust and
// lift for the coordinator of the region (and admins). Field names: docs/regions.md.
import { lang, t } from "./i18n.js";
import {
  $,
  ApiError,
  api,
  apiKey,
  cityLabel,
  cityName,
  cityZone,
  el,
  emptyNote,
  errorNote,
  fmtTime,
  higher,
  LEVEL_ORDER,
  levelBadge,
  levelOptions,
  mayActForRegion,
  openForm,
  replace,
  serviceNow,
  write,
} from "./common.js";

/** The regions and, for each, its detail (member rows); null when the server has none. */
export async function loadRegions() {
  let list;
  try {
    list = await api("/v1/regions");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) list = await api("/v1/regions", { auth: false });
    else throw error;
  }
  const regions = list.items || [];
  const details = await Promise.all(
    regions.map((r) => api(`/v1/regions/${encodeURIComponent(r.id)}`).catch(() => null)),
  );
  // Proposals waiting for a coordinator (shown to the keys that may see them).
  const proposed = apiKey()
    ? await api("/v1/regional-warnings?status=proposed&limit=100").then((r) => r.items, () => [])
    : [];
  return regions.map((r, i) => ({
    ...r,
    ...(details[i] || {}),
    proposals: proposed.filter((w) => w.region_id === r.id),
  }));
}

/** city code -> regional level in force (issued, started, not lifted). */
export function regionalLevels(regions) {
  const found = new Map();
  const now = serviceNow().getTime();
  for (const region of regions) {
    for (const row of region.member_status || []) {
      if (row.regional_level) found.set(row.city_code, higher(found.get(row.city_code), row.regional_level));
    }
    const w = region.active_warning;
    if (w && w.status === "issued" && (!w.starts_at || new Date(w.starts_at).getTime() <= now)) {
      for (const code of w.members || region.members || []) found.set(code, higher(found.get(code), w.level));
    }
  }
  return found;
}

function regionName(region) {
  return lang() === "zh" ? region.name_zh : region.name_en;
}

function coordinatorName(region) {
  const c = region.coordinator;
  if (!c) return "";
  return typeof c === "string" ? c : lang() === "zh" ? c.zh : c.en;
}

function warningBlock(region, w, item) {
  const zone = cityZone((region.members || [])[0]);
  const lateNow = w.status === "proposed" && w.approve_by && serviceNow() > new Date(w.approve_by);
  const block = el(
    "div",
    { class: "regional-warning", "data-regional-warning": w.id, "data-status": w.status },
    el(
      "div",
      { class: "item-head" },
      el("strong", {}, t("regionalWarning")),
      levelBadge(w.level, { drill: w.drill }),
      el("span", { class: "badge none" }, w.status),
      w.late || lateNow ? el("span", { class: "badge late", "data-late": "true" }, t("late")) : null,
    ),
    el(
      "div",
      { class: "item-meta" },
      el("span", {}, t("from", fmtTime(w.starts_at, zone))),
      w.ends_at ? el("span", {}, t("to", fmtTime(w.ends_at, zone))) : null,
      w.approve_by && w.status === "proposed" ? el("span", {}, t("approveBy", fmtTime(w.approve_by, zone))) : null,
      (w.triggering || []).length ? el("span", {}, t("triggering", w.triggering.map(cityLabel).join(", "))) : null,
    ),
    w.reason ? el("div", { class: "reason" }, w.reason) : null,
  );
  if (mayActForRegion(region.id)) {
    const buttons = el("div", { class: "buttons" });
    const base = `/v1/regional-warnings/${encodeURIComponent(w.id)}`;
    const name = regionName(region);
    if (w.status === "proposed") {
      buttons.append(
        el("button", { type: "button", class: "btn btn-primary", "data-action": "regional-approve", onclick: () => write(`${base}/approve`, {}, `${t("approve")} ${name}`) }, t("approve")),
        el("button", { type: "button", class: "btn btn-danger", "data-action": "regional-reject", onclick: () => openForm(item, { confirm: t("rejectConfirm"), danger: true, onConfirm: ({ reason }) => write(`${base}/reject`, { reason }, name) }) }, t("reject")),
      );
    }
    if (w.status === "issued") {
      const others = LEVEL_ORDER.filter((l) => l !== w.level);
      buttons.append(
        el("button", { type: "button", class: "btn", "data-action": "regional-adjust", onclick: () => openForm(item, { confirm: t("confirm"), fields: [{ name: "level", label: t("newLevel"), options: levelOptions(others) }], onConfirm: ({ level, reason }) => write(`${base}/adjust`, { level, reason }, `${name} → ${level}`) }) }, t("adjust")),
        el("button", { type: "button", class: "btn btn-danger", "data-action": "regional-lift", onclick: () => openForm(item, { confirm: t("liftConfirm"), danger: true, onConfirm: ({ reason }) => write(`${base}/lift`, { reason }, name) }) }, t("lift")),
      );
    }
    if (buttons.childElementCount) block.append(buttons);
  }
  return block;
}

function memberTable(region, ownLevels) {
  const rows = region.member_status || [];
  const members = rows.length ? rows : (region.members || []).map((code) => ({ city_code: code }));
  return el(
    "table",
    { class: "members", "data-testid": "members" },
    el(
      "thead",
      {},
      el("tr", {}, [t("city"), t("own"), t("regional"), t("effective"), t("compliance")].map((h) => el("th", { scope: "col" }, h))),
    ),
    el(
      "tbody",
      {},
      members.map((row) => {
        const own = row.own_level !== undefined ? row.own_level : ownLevels.get(row.city_code) || null;
        const regional = row.regional_level || null;
        const effective = row.effective_level !== undefined ? row.effective_level : higher(own, regional);
        const c = row.compliance;
        const lagging = Boolean(c && c.lagging);
        return el(
          "tr",
          { "data-member": row.city_code, class: lagging ? "laggard" : "", "data-lagging": lagging ? "true" : "false" },
          el("th", { scope: "row" }, cityName(row.city_code)),
          el("td", {}, own ? levelBadge(own, { short: true }) : "—"),
          el("td", {}, regional ? levelBadge(regional, { short: true }) : "—"),
          el("td", {}, effective ? levelBadge(effective, { short: true }) : "—"),
          el(
            "td",
            {},
            c ? el("span", { class: `compliance ${c.status}`, title: c.reason || "" }, c.status) : "—",
            c && c.reason && lagging ? el("div", { class: "dept why" }, c.reason) : null,
          ),
        );
      }),
    ),
  );
}

/** Render #regions: the regional API's regions, or (without it) the registry's grouping. */
export function renderRegions(result, ownLevels, registryRegions) {
  const box = $("#regions");
  const count = $("#regions-count");
  if (result.status !== "fulfilled") {
    count.textContent = "";
    const missing = result.reason instanceof ApiError && result.reason.status === 404;
    if (!missing) {
      replace(box, errorNote(result.reason, t("navRegions")));
      return;
    }
    replace(
      box,
      emptyNote(t("regionsMissing")),
      el(
        "ul",
        { class: "region-list" },
        registryRegions.map((r) => el("li", { "data-region": r.id }, el("strong", {}, r.label), ` · ${t("members")}: ${r.members.length}`)),
      ),
    );
    return;
  }
  const regions = result.value;
  const lagging = regions.reduce((n, r) => n + (r.member_status || []).filter((m) => m.compliance && m.compliance.lagging).length, 0);
  count.textContent = lagging ? t("laggards", lagging) : "";
  count.classList.toggle("hot", lagging > 0);
  replace(
    box,
    regions.map((region) => {
      const item = el(
        "div",
        { class: "item region-item", "data-region": region.id },
        el(
          "div",
          { class: "item-head" },
          el("span", { class: "city" }, regionName(region)),
          el("span", { class: "dept" }, `${t("coordinator")}: ${coordinatorName(region)}`),
        ),
      );
      const shown = [region.active_warning, ...(region.proposals || [])].filter(Boolean);
      if (!shown.length) item.append(emptyNote(t("noRegional")));
      for (const w of shown) item.append(warningBlock(region, w, item));
      item.append(el("details", { class: "members-fold", open: Boolean(region.active_warning) }, el("summary", {}, `${t("members")} (${(region.members || []).length})`), memberTable(region, ownLevels)));
      return item;
    }),
  );
}
