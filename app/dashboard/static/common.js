// Shared pieces of the dashboard: state, DOM building, the API client, time and colour
// formatting, roles, inline forms and writes. Builds DOM nodes, never HTML from data.
import { lang, t } from "./i18n.js";

export const KEY_STORAGE = "hazewarn.apiKey";
export const LEVEL_ORDER = ["blue", "yellow", "orange", "red"];

export const state = {
  meta: null, // /dashboard/meta.json: AQI categories, level colours, service clock
  cities: new Map(), // code -> city (/v1/cities)
  principal: null, // /v1/auth/me, when a key is set and valid
  busy: false, // a write is in flight or an inline form is open: hold the refresh
  reload: async () => {}, // set by dashboard.js
};

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** An element with attributes and children (strings become text nodes, never HTML). */
export function el(tag, attrs = {}, ...children) {
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

export function replace(container, ...children) {
  container.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

export function emptyNote(text) {
  return el("p", { class: "empty" }, text);
}

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
  }
}

/** fetch JSON from the API; the key goes along when one is stored. */
export async function api(path, { method = "GET", body = undefined, auth = true } = {}) {
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
  if (!response.ok) throw new ApiError(response.status, data && data.title, data && data.detail);
  return data;
}

/** The items of a settled list request ([] when it failed). */
export function items(result) {
  if (!result || result.status !== "fulfilled" || !result.value) return [];
  const value = result.value;
  return Array.isArray(value) ? value : value.items || [];
}

/** The note a section shows instead of its content when its request failed. */
export function errorNote(error, what) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    return emptyNote(apiKey() ? t("keyMayNot", what, error.message) : t("needKey", what));
  }
  if (error instanceof ApiError && error.status === 404) return emptyNote(t("notHere", what));
  return el("p", { class: "empty error-text" }, t("couldNotLoad", what, error.message));
}

export function toast(message, kind = "info") {
  const box = $("#toast");
  box.textContent = message;
  box.className = `toast ${kind === "error" ? "error" : ""}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), kind === "error" ? 8000 : 4000);
}

// ------------------------------------------------------------------ roles

export function role() {
  return state.principal ? state.principal.role : null;
}

export function isStaff() {
  return role() === "admin" || role() === "duty_officer";
}

/** A city office acknowledges the warnings of the cities in its scope. */
export function mayAcknowledge(code) {
  const p = state.principal;
  return Boolean(p && p.role === "city_office" && (p.scope_cities || []).includes(code));
}

/** Coordinators act for their regions; admins for all. */
export function mayActForRegion(regionId) {
  const p = state.principal;
  if (!p) return false;
  return p.role === "admin" || (p.role === "coordinator" && (p.region_codes || []).includes(regionId));
}

// ------------------------------------------------------------------ time, on city clocks

export function cityZone(code) {
  const city = state.cities.get(code);
  return (city && city.timezone) || "Asia/Shanghai";
}

/** "2016-12-15 12:00 +08:00": an instant on the clock of `zone`, with its offset. */
export function fmtTime(value, zone = "Asia/Shanghai") {
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

/** "Fri 16 Dec" (or "12月16日周五") for a local calendar date "2016-12-16". */
export function fmtDay(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.toLocaleDateString(lang() === "zh" ? "zh-CN" : "en-GB", {
    weekday: "short",
    day: "numeric",
    month: "short",
    timeZone: "UTC",
  });
}

/** The service's clock: the browser's, shifted like the server's when the demo replays. */
export function serviceNow() {
  const offset = (state.meta && state.meta.clock && state.meta.clock.offset_seconds) || 0;
  return new Date(Date.now() + offset * 1000);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

// ------------------------------------------------------------------ colours and badges

export function categoryOf(aqi) {
  if (aqi === null || aqi === undefined || !state.meta) return null;
  const found = state.meta.aqi_categories.find((c) => aqi >= c.aqi_min && (c.aqi_max === null || aqi <= c.aqi_max));
  return found || state.meta.aqi_categories[state.meta.aqi_categories.length - 1];
}

/** Black or white text, whichever contrasts more with `hex` (WCAG relative luminance). */
export function inkOn(hex) {
  const n = parseInt(hex.replace("#", ""), 16);
  const linear = (c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * linear((n >> 16) & 255) + 0.7152 * linear((n >> 8) & 255) + 0.0722 * linear(n & 255);
  return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? "#000000" : "#ffffff";
}

export function levelInfo(code) {
  return state.meta && state.meta.levels.find((l) => l.code === code);
}

export function levelName(code) {
  const info = levelInfo(code);
  if (!info) return code || t("none");
  return lang() === "zh" ? info.name_zh : info.name_en;
}

export function levelColour(code) {
  const info = levelInfo(code);
  return info ? info.colour_hex : "#b8c0cc";
}

export function higher(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  return LEVEL_ORDER.indexOf(a) >= LEVEL_ORDER.indexOf(b) ? a : b;
}

/** A level's badge; `short`: its name in the page's language only (for narrow tables). */
export function levelBadge(code, { drill = false, suffix = "", short = false } = {}) {
  if (!code) return el("span", { class: "badge none" }, t("none"));
  const info = levelInfo(code);
  const colour = levelColour(code);
  const both = short ? levelName(code) : `${info && info.name_en} ${info && info.name_zh}`;
  const label = info ? (lang() === "zh" ? info.name_zh : both) : code;
  return el(
    "span",
    {
      class: `badge level-${code}`,
      style: { background: colour, color: inkOn(colour) },
      title: info ? `response grade ${info.response_grade}` : null,
      "data-level": code,
    },
    label + suffix,
    drill ? ` · ${t("drill")}` : "",
  );
}

export function aqiChip(value, aqi, { small = false } = {}) {
  if (value === null || value === undefined) return el("span", { class: `chip missing${small ? " small" : ""}` }, "—");
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

export function cityName(code) {
  const city = state.cities.get(code);
  if (!city) return code;
  return lang() === "zh" ? city.name_zh : city.name_en;
}

export function cityLabel(code) {
  const city = state.cities.get(code);
  if (!city) return code;
  return lang() === "zh" ? city.name_zh : `${city.name_en} ${city.name_zh}`;
}

// ------------------------------------------------------------------ writes

/** POST, say how it went, and reload. */
export async function write(path, body, done) {
  if (!apiKey()) {
    toast(t("needKeyFirst"), "error");
    return;
  }
  state.busy = true;
  try {
    await api(path, { method: "POST", body });
    toast(t("done", done));
  } catch (error) {
    toast(`${error.title || t("refused")}: ${error.message}`, "error");
  } finally {
    state.busy = false;
    await state.reload();
  }
}

/**
 * A small form under `item`: optional choice fields, a required reason, confirm or cancel.
 * fields: [{name, label, options: [[value, text]]}]; onConfirm({reason, ...choices}).
 */
export function openForm(item, { confirm, danger = false, fields = [], reason = true, onConfirm }) {
  const existing = item.querySelector(".inline-form");
  if (existing) existing.remove();
  state.busy = true;
  const uid = Math.random().toString(36).slice(2, 8);
  const selects = fields.map((f) =>
    el(
      "label",
      { class: "field" },
      el("span", {}, f.label),
      el("select", { name: f.name, "data-field": f.name }, f.options.map(([value, text]) => el("option", { value }, text))),
    ),
  );
  const reasonInput = reason
    ? el("input", { type: "text", id: `reason-${uid}`, required: true, "data-testid": "reason", autocomplete: "off" })
    : null;
  const form = el(
    "form",
    { class: "inline-form" },
    selects,
    reasonInput ? el("label", { class: "field grow", for: `reason-${uid}` }, el("span", {}, t("reasonRequired")), reasonInput) : null,
    el("div", { class: "form-buttons" },
      el("button", { type: "submit", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, "data-action": "confirm" }, confirm),
      el("button", { type: "button", class: "btn", "data-action": "cancel", onclick: () => { form.remove(); state.busy = false; } }, t("cancel")),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = {};
    for (const select of form.querySelectorAll("select")) values[select.name] = select.value;
    if (reasonInput) {
      const text = reasonInput.value.trim();
      if (!text) {
        toast(t("giveReason"), "error");
        reasonInput.focus();
        return;
      }
      values.reason = text;
    }
    form.remove();
    state.busy = false;
    onConfirm(values);
  });
  item.append(form);
  (form.querySelector("select") || reasonInput || form.querySelector("button")).focus();
}

export function levelOptions(codes) {
  return codes.map((code) => [code, levelName(code)]);
}
