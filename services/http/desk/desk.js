// The agents' desk: the customer card, the at-risk queue, the live alerts and
// the campaign outcomes (outcomes.js), read from the service's JSON API
// (protobuf's JSON mapping). Everything shown is what the API returns,
// formatted; nothing is scored here. Text from the API is only ever set with
// textContent.
"use strict";

const TOKEN_KEY = "crm-desk-token";
const LANG_KEY = "crm-desk-lang";
const QUEUE_SIZE = 50;
const ALERTS_KEPT = 200;
const MAX_BUFFER = 1 << 20;  // an SSE event larger than this ends the stream

const desk = {
  lang: "en",
  view: "queue",
  customer: "",
  queue: [],           // CustomerScores rows shown, highest value at risk first
  openAlerts: new Map(),  // customerId -> the latest RAISED alert seen
  alerts: [],          // every alert seen, latest first
  stream: null,        // AbortController of the alerts stream
  cardRequest: 0,      // a later card load supersedes an earlier one
  queueRequest: 0,
  queueAnswer: null,   // the last at-risk answer: partitions, instances, partial
  live: null,          // setLive's last arguments
};

const $ = (selector) => document.querySelector(selector);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== undefined && child !== null) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

// ---- words, numbers, dates ------------------------------------------------

function t(key, params) {
  const table = DESK_MESSAGES[desk.lang] || DESK_MESSAGES.en;
  let text = table[key] ?? DESK_MESSAGES.en[key] ?? key;
  for (const [name, value] of Object.entries(params || {})) {
    text = text.split("{" + name + "}").join(String(value));
  }
  return text;
}

function enumLabel(name) {
  if (!name) return "—";
  const key = "enum." + name;
  const table = DESK_MESSAGES[desk.lang] || DESK_MESSAGES.en;
  return table[key] ?? DESK_MESSAGES.en[key] ?? name;
}

function locale() { return desk.lang === "fr" ? "fr-FR" : "en-GB"; }

function number(value, digits = 2) {
  const n = Number(value ?? 0);
  return new Intl.NumberFormat(locale(), {maximumFractionDigits: digits}).format(n);
}

function money(value) {
  return new Intl.NumberFormat(locale(), {minimumFractionDigits: 2, maximumFractionDigits: 2})
      .format(Number(value ?? 0));
}

function percent(value) {
  return new Intl.NumberFormat(locale(), {style: "percent", maximumFractionDigits: 0})
      .format(Number(value ?? 0));
}

function when(timestamp) {
  if (!timestamp) return "—";
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return String(timestamp);
  return new Intl.DateTimeFormat(locale(), {dateStyle: "medium", timeStyle: "short", timeZone: "UTC"})
      .format(date) + " UTC";
}

function applyLanguage() {
  document.documentElement.lang = desk.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-aria]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nAria));
  }
  $("#lang-switch").setAttribute("lang", desk.lang === "fr" ? "en" : "fr");
  if (desk.live) setLive(...desk.live);
  for (const select of document.querySelectorAll("select[data-enum]")) {
    const chosen = select.value;
    select.replaceChildren(el("option", {value: ""}, t("queue.any")));
    for (const name of select.dataset.enum.split(" ")) {
      select.append(el("option", {value: name}, name.length === 1 ? name : enumLabel(name)));
    }
    select.value = chosen;
  }
}

// ---- the API ----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? {Authorization: "Bearer " + token} : {};
}

async function api(path) {
  let response;
  try {
    response = await fetch(path, {headers: {Accept: "application/json", ...authHeaders()}});
  } catch (error) {
    throw new ApiError(0, "OFFLINE", String(error));
  }
  if (response.ok) return response.json();
  let code = "UNKNOWN", message = response.statusText;
  try {
    const body = await response.json();
    code = body.code || code;
    message = body.message || message;
  } catch (ignored) { /* not JSON */ }
  throw new ApiError(response.status, code, message);
}

// Shows what an error means to the agent: a state, never a stack.
function showError(error, id) {
  if (!(error instanceof ApiError)) error = new ApiError(0, "UNKNOWN", String(error));
  if (error.status === 401) return askForToken("unauthorised", t("state.unauthorised"));
  if (error.status === 403) return askForToken("forbidden", t("state.forbidden"));
  const states = {
    404: ["not-found", t("state.notFound", {id})],
    503: ["restoring", t("state.restoring")],
    429: ["busy", t("state.busy")],
    400: ["invalid", t("state.invalid", {message: error.message})],
    0: ["offline", t("state.offline")],
  };
  const [state, text] = states[error.status] || ["error", t("state.error", {message: error.message})];
  setStatus(state, text);
}

function setStatus(state, text) {
  const status = $("#status");
  status.dataset.state = state;
  status.textContent = text || "";
  status.hidden = !text;
}

// ---- views and routing ------------------------------------------------------

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== "view-" + name;
  for (const button of document.querySelectorAll("nav button[data-view]")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
}

function navigate(params) {
  const search = new URLSearchParams(params).toString();
  history.pushState(null, "", "/" + (search ? "?" + search : ""));
  route();
}

function route() {
  const params = new URLSearchParams(location.search);
  const customer = (params.get("customer") || "").trim();
  setStatus("ok", "");
  if (customer) {
    desk.view = "card";
    $("#search-input").value = customer;
    loadCard(customer);
  } else if (params.get("view") === "outcomes") {
    showOutcomes();
  } else if (params.get("view") === "alerts") {
    desk.view = "alerts";
    showView("alerts");
    renderAlerts();
  } else {
    desk.view = "queue";
    showView("queue");
    loadQueue();
  }
}

// 401: the service wants a token; 403: it refuses the one given (unknown,
// or of a role that may not do this).
function askForToken(state, text) {
  setStatus(state, text);
  showView("token");
  $("#token-input").focus();
}

// ---- the card ---------------------------------------------------------------

async function loadCard(id) {
  const request = ++desk.cardRequest;
  desk.customer = id;
  setStatus("loading", t("state.loading"));
  const path = "/v1/customers/" + encodeURIComponent(id);
  try {
    const [scores, state] = await Promise.all([
      api(path + "/scores"),
      api(path + "/state").catch((error) => ([401, 403].includes(error.status) ? Promise.reject(error) : null)),
    ]);
    if (request !== desk.cardRequest) return;
    setStatus("ok", "");
    renderCard(scores, state);
    showView("card");
    document.title = id + " · " + t("title");
  } catch (error) {
    if (request !== desk.cardRequest) return;
    showView(error.status === 401 || error.status === 403 ? "token" : "card");
    $("#card").hidden = true;
    showError(error, id);
  }
}

function fact(list, label, value, id) {
  list.append(el("dt", {}, label), el("dd", {id}, value));
}

function renderCard(scores, state) {
  const card = $("#card");
  card.hidden = false;
  card.dataset.customerId = scores.customerId;
  $("#card-title").textContent = scores.customerId;
  const stage = $("#lifecycle-stage");
  stage.textContent = enumLabel(scores.lifecycleStage);
  stage.dataset.value = scores.lifecycleStage || "";
  renderFreshness(scores);
  renderChurn(scores);
  const risk = $("#value-at-risk");
  risk.textContent = money(scores.valueAtRisk);
  risk.dataset.value = String(scores.valueAtRisk ?? 0);
  renderAction(scores);
  renderConsent(scores, state);
  renderFacts(scores);
  renderOffers(scores.appetenceDetails || []);
  renderTimeline(state && state.recentTouchpoints);
}

function renderFreshness(scores) {
  const f = scores.freshness || {};
  const lag = Number(f.lag ?? -1);
  let servedBy = f.servedBy || "—";
  if (f.forwarded) servedBy += " (" + t("card.freshness.forwarded") + ")";
  $("#card-freshness").textContent = t("card.freshness", {
    updated: f.updatedAt ? when(f.updatedAt) : t("card.freshness.never"),
    servedBy,
    partition: f.partition ?? 0,
    lag: lag < 0 ? t("card.freshness.lagUnknown") : number(lag, 0),
  });
  $("#card-as-of").textContent = t("card.asOf", {
    asOf: when(scores.asOf), model: scores.modelVersion || "—", events: number(scores.eventsApplied, 0),
  });
}

function renderChurn(scores) {
  const gauge = $("#churn-gauge");
  const output = $("#churn-value");
  const reasons = $("#churn-reasons");
  reasons.replaceChildren();
  if (scores.churn === undefined || scores.churn === null) {
    output.textContent = "—";
    output.dataset.value = "";
    gauge.dataset.level = "none";
    gauge.setAttribute("aria-valuenow", "0");
    gauge.setAttribute("aria-valuetext", t("card.churn.prospect"));
    $("#gauge-fill").setAttribute("stroke-dasharray", "0 100");
    reasons.append(el("li", {class: "empty"}, t("card.churn.prospect")));
    return;
  }
  const churn = Number(scores.churn);
  const shown = percent(churn);
  output.textContent = shown;
  output.dataset.value = String(churn);
  gauge.dataset.level = churn >= 0.7 ? "high" : churn >= 0.4 ? "mid" : "low";
  gauge.setAttribute("aria-valuenow", String(Math.round(churn * 100)));
  gauge.setAttribute("aria-valuetext", t("card.churn.gauge", {value: shown}));
  $("#gauge-fill").setAttribute("stroke-dasharray", Math.round(churn * 100) + " 100");
  const given = scores.reasons || [];
  if (!given.length) reasons.append(el("li", {class: "empty"}, t("card.reasons.none")));
  for (const reason of given) {
    reasons.append(el("li", {"data-code": reason.code, "data-sign": Number(reason.weight) >= 0 ? "up" : "down"},
                      reason.sentence || reason.code));
  }
}

// The action and channel recommended now (the scores' own), and, when the
// page has seen the customer's open alert, what that alert recommended when
// it was raised (the customer may have moved on since: lost, say).
function renderAction(scores) {
  const action = $("#recommended-action");
  const channel = $("#recommended-channel");
  const recommended = scores.recommendedAction || "";
  action.textContent = enumLabel(recommended);
  action.dataset.value = recommended;
  const how = recommended ? scores.recommendedChannel || "CHANNEL_UNSPECIFIED" : "";
  channel.textContent = enumLabel(how);
  channel.dataset.value = how;
  const alert = desk.openAlerts.get(scores.customerId);
  renderMarketing(scores.control ? "CONTROL_GROUP" : (alert && alert.notForMarketingReason) || "");
  $("#action-source").textContent =
      !recommended ? t("card.action.prospect")
      : alert ? t("card.action.fromAlert", {alertId: alert.alertId, raisedAt: when(alert.raisedAt),
                                            action: enumLabel(alert.recommendedAction)})
      : t("card.action.now");
}

// Why the customer's open alert goes to no campaign, if it does not: the
// control group above all, which agents must not contact proactively either.
function renderMarketing(reason) {
  const note = $("#action-marketing");
  note.dataset.value = reason;
  note.hidden = !reason;
  note.textContent = reason ? t("marketing." + reason) : "";
}

function renderConsent(scores, state) {
  const body = $("#consent tbody");
  body.replaceChildren();
  const usable = new Set(scores.contactableChannels || []);
  const rows = new Map();
  for (const activity of (state && state.channels) || []) rows.set(activity.channel, activity);
  for (const channel of usable) if (!rows.has(channel)) rows.set(channel, {channel});
  if (!rows.size) {
    body.append(el("tr", {}, el("td", {colspan: "5"}, t("card.consent.none"))));
    return;
  }
  for (const [channel, activity] of rows) {
    const consent = activity.consent === true ? t("card.consent.granted")
                  : activity.consent === false ? t("card.consent.withdrawn") : t("card.consent.unknown");
    const now = usable.has(channel);
    body.append(el("tr", {"data-channel": channel},
                   el("th", {scope: "row"}, enumLabel(channel)),
                   el("td", {}, consent),
                   el("td", {"data-usable": String(now)}, now ? t("yes") : t("no")),
                   el("td", {class: "num"}, number(activity.contacts, 0)),
                   el("td", {}, when(activity.lastContact))));
  }
}

function renderFacts(scores) {
  const value = $("#value-facts");
  value.replaceChildren();
  fact(value, t("card.segment"), scores.segment || "—", "segment");
  fact(value, t("card.quadrant"), enumLabel(scores.valueQuadrant), "value-quadrant");
  fact(value, t("card.strategy"), enumLabel(scores.valueStrategy), "value-strategy");
  fact(value, t("card.stage"), enumLabel(scores.lifecycleStage), "stage");
  fact(value, t("card.clv"), money(scores.clv), "clv");
  fact(value, t("card.ltv"), money(scores.lifetimeValue), "lifetime-value");
  fact(value, t("card.pAlive"), percent(scores.pAlive), "p-alive");
  fact(value, t("card.pastProfit"), money(scores.pastProfitability), "past-profitability");
  fact(value, t("card.costToServe"), money(scores.costToServe), "cost-to-serve");
  fact(value, t("card.expectedPurchases", {days: number(scores.churnHorizonDays, 0)}),
       number(scores.expectedPurchases), "expected-purchases");
  const rfm = scores.rfm || {};
  const list = $("#rfm-facts");
  list.replaceChildren();
  const recency = Number(rfm.recencyDays ?? -1);
  fact(list, t("card.recency"),
       recency < 0 ? t("card.recency.never") : t("card.recency.days", {days: number(recency, 0)}), "recency");
  fact(list, t("card.frequency"), number(rfm.frequency, 0), "frequency");
  fact(list, t("card.monetary"), money(rfm.monetary), "monetary");
  fact(list, t("card.productTypes"), number(rfm.productTypes, 0), "product-types");
  fact(list, t("card.scores"),
       [rfm.rScore, rfm.fScore, rfm.mScore, rfm.tScore].map((s) => s ?? 0).join(" / "), "rfm-scores");
  const satisfaction = $("#satisfaction-facts");
  satisfaction.replaceChildren();
  const latest = scores.latestSatisfaction;
  fact(satisfaction, t("card.latestSatisfaction"),
       latest === undefined || latest === null ? t("card.noSurvey") : latest + " / 10", "latest-satisfaction");
  fact(satisfaction, t("card.complaints90d"), number(scores.complaints90d, 0), "complaints-90d");
  fact(satisfaction, t("card.campaignContacts30d"), number(scores.campaignContacts30d, 0),
       "campaign-contacts-30d");
}

function renderOffers(details) {
  const list = $("#offers");
  list.replaceChildren();
  const top = [...details].sort((a, b) => Number(b.probability ?? 0) - Number(a.probability ?? 0)).slice(0, 5);
  if (!top.length) list.append(el("li", {class: "empty"}, t("card.offers.none")));
  for (const offer of top) {
    const reasons = el("ul", {});
    for (const reason of offer.reasons || []) reasons.append(el("li", {}, reason.sentence || reason.code));
    list.append(el("li", {"data-product": offer.product},
                   el("strong", {}, offer.product), " — " + percent(offer.probability), reasons));
  }
}

function renderTimeline(touchpoints) {
  const list = $("#timeline");
  list.replaceChildren();
  if (!touchpoints || !touchpoints.length) {
    list.append(el("li", {class: "empty"}, t("card.timeline.none")));
    return;
  }
  // The API lists them as they were applied; an agent reads them by when
  // they happened (a late-arriving event takes its place in time).
  const at = (tp) => Date.parse(tp.occurredAt || "") || 0;
  const byTime = [...touchpoints].sort((a, b) => at(b) - at(a));
  for (const tp of byTime) {
    const parts = [enumLabel(tp.type), enumLabel(tp.channel)];
    if (tp.product) parts.push(tp.product);
    if (tp.amount) parts.push(money(tp.amount));
    if (tp.type === "CONSENT" && tp.consentGranted !== undefined) {
      parts.push(t(tp.consentGranted ? "card.consent.granted" : "card.consent.withdrawn"));
    }
    if (tp.satisfaction !== undefined) parts.push(tp.satisfaction + " / 10");
    list.append(el("li", {"data-event-id": tp.eventId, "data-type": tp.type},
                   el("time", {datetime: tp.occurredAt}, when(tp.occurredAt)), parts.join(" · ")));
  }
}

// ---- the at-risk queue ------------------------------------------------------

function queueParams() {
  const params = new URLSearchParams({top_n: String(QUEUE_SIZE), order_by: "AT_RISK_ORDER_VALUE_AT_RISK"});
  for (const [name, id] of [["segment", "#filter-segment"], ["value_quadrant", "#filter-quadrant"],
                            ["action", "#filter-action"]]) {
    if ($(id).value) params.set(name, $(id).value);
  }
  if ($("#filter-lost").checked) params.set("include_lost", "true");
  return params;
}

async function loadQueue() {
  const request = ++desk.queueRequest;
  try {
    const params = queueParams().toString();
    const answer = await api("/v1/at-risk?" + params);
    if (request !== desk.queueRequest) return;
    desk.queue = answer.customers || [];
    $("#queue").dataset.query = params;  // what the rows answer
    desk.queueAnswer = answer;
    renderQueue();
  } catch (error) {
    if (request === desk.queueRequest) showError(error, "");
  }
}

// What the server-side filters would let through, for rows added live.
function queueAdmits(scores, alert) {
  const stage = scores.lifecycleStage || alert.lifecycleStage;
  if ($("#filter-segment").value && $("#filter-segment").value !== (scores.segment || alert.segment)) return false;
  if ($("#filter-quadrant").value &&
      $("#filter-quadrant").value !== (scores.valueQuadrant || alert.valueQuadrant)) return false;
  if ($("#filter-action").value && $("#filter-action").value !== alert.recommendedAction) return false;
  if (stage === "LOST" && !$("#filter-lost").checked) return false;
  return true;
}

function renderQueue() {
  const body = $("#queue tbody");
  body.replaceChildren();
  const stage = $("#filter-stage").value;
  const rows = desk.queue.filter((s) => !stage || s.lifecycleStage === stage);
  for (const scores of rows) {
    const id = scores.customerId;
    const open = el("button", {type: "button", "aria-label": t("queue.open", {id})}, id);
    open.addEventListener("click", () => navigate({customer: id}));
    const alert = desk.openAlerts.get(id);
    body.append(el("tr", {"data-customer-id": id},
                   el("td", {}, open),
                   el("td", {class: "num", "data-value": String(scores.churn ?? "")},
                      scores.churn === undefined ? "—" : percent(scores.churn)),
                   el("td", {class: "num", "data-value": String(scores.valueAtRisk ?? 0)}, money(scores.valueAtRisk)),
                   el("td", {}, scores.segment || "—"),
                   el("td", {}, enumLabel(scores.valueQuadrant)),
                   el("td", {}, enumLabel(scores.lifecycleStage)),
                   el("td", {}, enumLabel(scores.recommendedAction))));
  }
  $("#queue-empty").hidden = rows.length > 0;
  const answer = desk.queueAnswer || {};
  const coverage = t("queue.coverage", {
    count: rows.length, partitions: (answer.partitions || []).join(", ") || "—",
    instances: (answer.instances || []).join(", ") || "—"});
  $("#queue-coverage").textContent =
      answer.partial ? coverage + " · " + t("queue.partial", {reason: answer.partialReason || ""}) : coverage;
}

async function onRaised(alert) {
  const id = alert.customerId;
  let scores;
  try {
    scores = await api("/v1/customers/" + encodeURIComponent(id) + "/scores");
  } catch (error) {
    scores = {customerId: id, churn: alert.churn, valueAtRisk: alert.valueAtRisk, segment: alert.segment,
              valueQuadrant: alert.valueQuadrant, lifecycleStage: alert.lifecycleStage};
  }
  if (!desk.openAlerts.has(id)) return;  // cleared meanwhile
  desk.queue = desk.queue.filter((s) => s.customerId !== id);
  if (queueAdmits(scores, alert)) {
    desk.queue.push(scores);
    desk.queue.sort((a, b) => Number(b.valueAtRisk ?? 0) - Number(a.valueAtRisk ?? 0));
    desk.queue = desk.queue.slice(0, QUEUE_SIZE);
  }
  renderQueue();
}

function onCleared(alert) {
  desk.queue = desk.queue.filter((s) => s.customerId !== alert.customerId);
  renderQueue();
}

// ---- live alerts ------------------------------------------------------------

function onAlert(alert) {
  if (!alert || !alert.customerId) return;
  desk.alerts.unshift(alert);
  desk.alerts.length = Math.min(desk.alerts.length, ALERTS_KEPT);
  const cleared = alert.transition === "ALERT_TRANSITION_CLEARED";
  if (cleared) {
    desk.openAlerts.delete(alert.customerId);
    onCleared(alert);
  } else {
    desk.openAlerts.set(alert.customerId, alert);
    onRaised(alert);
  }
  if (desk.view === "card" && desk.customer === alert.customerId) loadCard(desk.customer);
  renderAlerts();
}

function alertShown(alert) {
  const transition = $("#alerts-transition").value;
  const kind = alert.transition === "ALERT_TRANSITION_CLEARED" ? "ALERT_TRANSITION_CLEARED" : "ALERT_TRANSITION_RAISED";
  if (transition && transition !== kind) return false;
  if ($("#alerts-segment").value && $("#alerts-segment").value !== alert.segment) return false;
  if ($("#alerts-action").value && $("#alerts-action").value !== alert.recommendedAction) return false;
  const minimum = Number($("#alerts-min-churn").value || 0);
  return kind === "ALERT_TRANSITION_CLEARED" || Number(alert.churn ?? 0) >= minimum;
}

function renderAlerts() {
  const list = $("#alerts");
  list.replaceChildren();
  const shown = desk.alerts.filter(alertShown);
  for (const alert of shown) {
    const cleared = alert.transition === "ALERT_TRANSITION_CLEARED";
    const kind = cleared ? "ALERT_TRANSITION_CLEARED" : "ALERT_TRANSITION_RAISED";
    const text = cleared
        ? t("alerts.clearedLine", {id: alert.customerId, reason: enumLabel(alert.clearedReason)})
        : t("alerts.raisedLine", {id: alert.customerId, churn: percent(alert.churn),
                                  valueAtRisk: money(alert.valueAtRisk),
                                  action: enumLabel(alert.recommendedAction),
                                  channel: enumLabel(alert.recommendedChannel || "CHANNEL_UNSPECIFIED")});
    const reason = alert.notForMarketingReason || "";
    const marketing = reason ? el("em", {"data-marketing": reason}, " · " + t("marketing." + reason)) : "";
    const open = el("button", {type: "button", "aria-label": t("queue.open", {id: alert.customerId})},
                    t("search.button"));
    open.addEventListener("click", () => navigate({customer: alert.customerId}));
    list.append(el("li", {"data-alert-id": alert.alertId, "data-customer-id": alert.customerId,
                          "data-transition": kind},
                   el("time", {datetime: alert.raisedAt}, when(alert.raisedAt)),
                   el("strong", {}, t(cleared ? "alerts.CLEARED" : "alerts.RAISED")), " ", text, marketing,
                   open));
  }
  $("#alerts-empty").hidden = shown.length > 0;
}

// The alerts stream's state in the header; `key` names its words, kept to
// say them again when the language changes.
function setLive(state, key, params) {
  desk.live = [state, key, params];
  const live = $("#live-status");
  live.dataset.state = state;
  live.textContent = key ? t(key, params) : "";
}

// Reads /v1/alerts:watch as Server-Sent Events with fetch (EventSource cannot
// send the Authorization header), reconnecting with a growing delay.
async function watchAlerts() {
  if (desk.stream) desk.stream.abort();
  const controller = new AbortController();
  desk.stream = controller;
  let delay = 1000;
  while (!controller.signal.aborted) {
    setLive("connecting", "live.connecting");
    try {
      const response = await fetch("/v1/alerts:watch?include_cleared=true",
                                   {headers: {Accept: "text/event-stream", ...authHeaders()},
                                    signal: controller.signal, cache: "no-store"});
      if (response.status === 401 || response.status === 403) {
        setLive("unauthorised", "");
        return;  // watchAlerts starts again once a token is entered
      }
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      setLive("connected", "live.connected");
      delay = 1000;
      await readEvents(response.body.getReader(), onAlert);
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    if (controller.signal.aborted) return;
    setLive("retrying", "live.retry", {seconds: Math.round(delay / 1000)});
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

async function readEvents(reader, deliver) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, {stream: true}).replace(/\r\n?/g, "\n");
    if (buffer.length > MAX_BUFFER) throw new Error("event too large");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const lines = block.split("\n");
      const type = lines.filter((line) => line.startsWith("event:")).map((line) => line.slice(6).trim()).pop();
      const data = lines.filter((line) => line.startsWith("data:"))
                        .map((line) => line.slice(line.startsWith("data: ") ? 6 : 5)).join("\n");
      if (!data) continue;  // a comment or a keep-alive
      if (type && type !== "message") throw new Error("stream ended: " + data);  // e.g. "error"
      try {
        deliver(JSON.parse(data));
      } catch (error) { /* one bad event is skipped */ }
    }
  }
}

// ---- wiring -----------------------------------------------------------------

function chooseLanguage() {
  const stored = localStorage.getItem(LANG_KEY);
  if (stored === "en" || stored === "fr") return stored;
  return (navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en";
}

function start() {
  desk.lang = chooseLanguage();
  applyLanguage();
  $("#lang-switch").addEventListener("click", () => {
    desk.lang = desk.lang === "fr" ? "en" : "fr";
    localStorage.setItem(LANG_KEY, desk.lang);
    applyLanguage();
    route();
  });
  for (const button of document.querySelectorAll("nav button[data-view]")) {
    button.addEventListener("click", () => navigate(button.dataset.view === "queue" ? {} : {view: button.dataset.view}));
  }
  $("#nav-token").addEventListener("click", () => {
    setStatus("ok", "");
    showView("token");
    $("#token-input").focus();
  });
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("#search-input").value.trim();
    if (id) navigate({customer: id});
  });
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("#token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("#token-input").value = "";
    watchAlerts();
    route();
  });
  $("#token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("#token-input").value = "";
  });
  $("#queue-filters").addEventListener("change", (event) => {
    if (event.target.id === "filter-stage") renderQueue();
    else loadQueue();
  });
  $("#queue-filters").addEventListener("submit", (event) => event.preventDefault());
  $("#alerts-filters").addEventListener("input", renderAlerts);
  $("#alerts-filters").addEventListener("change", renderAlerts);
  $("#alerts-filters").addEventListener("submit", (event) => event.preventDefault());
  startOutcomes();
  window.addEventListener("popstate", route);
  route();
  watchAlerts();
}

start();
