// The desk's campaign outcomes: did the win-back work. GetAlertOutcomes
// (GET /v1/alerts/outcomes) as a headline, the two groups side by side and
// the uplift of each week of raising drawn with its interval; reloaded while
// shown. Uses desk.js's helpers (loaded after this file, called later).
"use strict";

const OUTCOMES_REFRESH_MS = 10000;
const SVG = "http://www.w3.org/2000/svg";

const outcomes = {request: 0, timer: null, answer: null};

function outcomesParams() {
  const params = new URLSearchParams();
  for (const [name, id] of [["action", "#outcomes-action"], ["segment", "#outcomes-segment"]]) {
    if ($(id).value) params.set(name, $(id).value);
  }
  const weeks = Number($("#outcomes-period").value);
  if (weeks > 0) {
    params.set("since", new Date(Date.now() - weeks * 7 * 86400000).toISOString());
  }
  return params;
}

async function loadOutcomes() {
  const request = ++outcomes.request;
  clearTimeout(outcomes.timer);
  try {
    const answer = await api("/v1/alerts/outcomes?" + outcomesParams().toString());
    if (request !== outcomes.request) return;
    outcomes.answer = answer;
    renderOutcomes();
  } catch (error) {
    if (request === outcomes.request) showError(error, "");
  }
  if (desk.view === "outcomes") outcomes.timer = setTimeout(loadOutcomes, OUTCOMES_REFRESH_MS);
}

// Points with a sign: "+38 pts".
function points(rate) {
  const value = Math.round(Number(rate ?? 0) * 100);
  return t("outcomes.points", {value: (value > 0 ? "+" : "") + number(value, 0)});
}

function day(timestamp) {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return String(timestamp);
  return new Intl.DateTimeFormat(locale(), {dateStyle: "medium", timeZone: "UTC"}).format(date);
}

function count(value) { return number(Number(value ?? 0), 0); }

function rate(group) {
  const alerts = Number(group?.alerts ?? 0);
  return alerts > 0 ? Number(group.recovered ?? 0) / alerts : 0;
}

function renderOutcomes() {
  const answer = outcomes.answer;
  if (!answer) return;
  const known = Boolean(answer.upliftKnown);
  const low = Number(answer.upliftLow ?? 0), high = Number(answer.upliftHigh ?? 0);
  const verdict = !known ? "unknown" : low > 0 ? "positive" : high < 0 ? "negative" : "open";
  const headline = $("#outcomes-headline");
  headline.dataset.verdict = verdict;
  $("#outcomes-uplift").textContent = known ? points(answer.uplift) : "—";
  $("#outcomes-interval").textContent =
      known ? t("outcomes.interval", {low: points(low), high: points(high)}) : "";
  $("#outcomes-verdict").textContent = t("outcomes.verdict." + verdict);
  $("#outcomes-incremental").textContent = money(answer.incrementalRevenue);
  $("#outcomes-window").textContent =
      t("outcomes.window", {days: count(answer.outcomeWindowDays)});
  for (const name of ["treated", "control"]) {
    const group = answer[name] || {};
    $(`#outcomes-${name}-alerts`).textContent = count(group.alerts);
    $(`#outcomes-${name}-contacted`).textContent = count(group.contacted);
    $(`#outcomes-${name}-recovered`).textContent = count(group.recovered);
    $(`#outcomes-${name}-rate`).textContent = percent(rate(group));
    $(`#outcomes-${name}-revenue`).textContent = money(group.revenue);
  }
  renderOutcomeWeeks(answer.weeks || []);
}

function renderOutcomeWeeks(weeks) {
  const body = $("#outcomes-weeks tbody");
  body.replaceChildren();
  for (const week of weeks.slice().reverse()) {
    const uplift = week.upliftKnown
        ? `${points(week.uplift)} (${points(week.upliftLow)} … ${points(week.upliftHigh)})` : "—";
    body.append(el("tr", {"data-week": week.week},
        el("td", {}, day(week.week)),
        el("td", {class: "num"}, count(week.treated?.alerts)),
        el("td", {class: "num"}, percent(rate(week.treated))),
        el("td", {class: "num"}, count(week.control?.alerts)),
        el("td", {class: "num"}, percent(rate(week.control))),
        el("td", {class: "num"}, uplift)));
  }
  $("#outcomes-empty").hidden = weeks.length > 0;
  drawOutcomeChart(weeks.filter((week) => week.upliftKnown));
}

// Each week's uplift as a dot on its 95 % interval, against the zero line.
function drawOutcomeChart(weeks) {
  const chart = $("#outcomes-chart");
  chart.replaceChildren();
  chart.hidden = weeks.length === 0;
  if (weeks.length === 0) return;
  const width = 640, height = 200, pad = 20, left = 64;  // room for "-100 pts"
  const y = (value) => pad / 2 + (1 - (Number(value ?? 0) + 1) / 2) * (height - pad);
  const step = (width - left - pad) / Math.max(weeks.length, 1);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("outcomes.chart"));
  const line = (x1, y1, x2, y2, cls) => {
    const node = document.createElementNS(SVG, "line");
    for (const [k, v] of Object.entries({x1, y1, x2, y2, class: cls})) node.setAttribute(k, v);
    svg.append(node);
  };
  const label = (x, yy, text, anchor) => {
    const node = document.createElementNS(SVG, "text");
    node.setAttribute("x", x);
    node.setAttribute("y", yy);
    node.setAttribute("text-anchor", anchor);
    node.textContent = text;
    svg.append(node);
  };
  for (const value of [-1, -0.5, 0, 0.5, 1]) {
    line(left, y(value), width - pad / 2, y(value), value === 0 ? "zero" : "grid");
    label(left - 6, y(value) + 4, points(value), "end");
  }
  weeks.forEach((week, i) => {
    const x = left + step * (i + 0.5);
    line(x, y(week.upliftLow), x, y(week.upliftHigh), "interval");
    const dot = document.createElementNS(SVG, "circle");
    for (const [k, v] of Object.entries({cx: x, cy: y(week.uplift), r: 4, class: "uplift"})) {
      dot.setAttribute(k, v);
    }
    svg.append(dot);
  });
  chart.append(svg);
}

function showOutcomes() {
  desk.view = "outcomes";
  showView("outcomes");
  loadOutcomes();
}

function startOutcomes() {
  $("#outcomes-filters").addEventListener("change", loadOutcomes);
  $("#outcomes-filters").addEventListener("submit", (event) => event.preventDefault());
}
