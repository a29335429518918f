// tunesmith studio: live loss charts, live run table, keyboard labelling. No framework, no build step.
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

const LIVE = ["created", "prepared", "running", "starting"];
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? body.error + (body.hint ? " (hint: " + body.hint + ")" : "") : response.statusText);
  return body;
}

// ---- charts ---------------------------------------------------------------------------------------------------

function niceTicks(low, high, count, whole = false) {
  const span = high - low || 1;
  const step = Math.pow(10, Math.floor(Math.log10(span / count)));
  const factor = [1, 2, 5, 10].find((f) => span / (f * step) <= count) || 10;
  const size = whole ? Math.max(1, factor * step) : factor * step;  // steps are whole numbers
  const ticks = [];
  for (let t = Math.ceil(low / size) * size; t <= high + 1e-12; t += size) ticks.push(+t.toPrecision(12));
  return ticks;
}

function drawChart(canvas, runs) {
  const ctx = canvas.getContext("2d");
  const width = canvas.width, height = canvas.height, pad = { left: 56, right: 16, top: 16, bottom: 32 };
  ctx.clearRect(0, 0, width, height);
  const points = runs.flatMap((run) => [...(run.curves.loss || []), ...(run.curves.eval_loss || [])]);
  ctx.font = "12px sans-serif";
  ctx.fillStyle = "#555";
  canvas.dataset.drawn = "1";
  if (!points.length) {
    ctx.fillText("no loss logged yet", width / 2 - 50, height / 2);
    return;
  }
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => pad.left + (x - x0) / (x1 - x0) * (width - pad.left - pad.right);
  const Y = (y) => height - pad.bottom - (y - y0) / (y1 - y0) * (height - pad.top - pad.bottom);
  ctx.strokeStyle = "#ddd";
  ctx.lineWidth = 1;
  for (const t of niceTicks(y0, y1, 5)) {
    ctx.beginPath(); ctx.moveTo(pad.left, Y(t)); ctx.lineTo(width - pad.right, Y(t)); ctx.stroke();
    ctx.fillText(String(t), 4, Y(t) + 4);
  }
  for (const t of niceTicks(x0, x1, 8, true)) ctx.fillText(String(t), X(t) - 6, height - 10);
  runs.forEach((run, i) => {
    const color = COLORS[i % COLORS.length];
    for (const [name, dash] of [["loss", []], ["eval_loss", [6, 4]]]) {
      const series = run.curves[name] || [];
      ctx.strokeStyle = ctx.fillStyle = color;
      ctx.lineWidth = 2;
      ctx.setLineDash(dash);
      ctx.beginPath();
      series.forEach(([x, y], k) => (k ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
      if (name === "eval_loss") series.forEach(([x, y]) => ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4));
    }
    ctx.setLineDash([]);
    ctx.fillRect(width - pad.right - 200, pad.top + 4 + i * 16, 10, 10);
    ctx.fillStyle = "#222";
    ctx.fillText(run.id, width - pad.right - 184, pad.top + 13 + i * 16);
  });
}

function showLaunch(launch) {
  const section = document.getElementById("launch-state");
  if (!section || !launch) return;
  const field = (name) => section.querySelector(`[data-launch-field="${name}"]`);
  field("state").textContent = launch.running ? "running" : launch.returncode === 0 ? "ended" : `ended with code ${launch.returncode}`;
  if (launch.total) {
    field("progress").max = launch.total;
    field("progress").value = launch.step;
    field("steps").textContent = `step ${launch.step}/${launch.total}`;
  }
  field("log").textContent = launch.log;
  if (!launch.running) section.querySelectorAll("button.stop").forEach((b) => b.remove());
}

// Settled: the run's files will not change any more (not live, and no training process of ours still writing).
const settled = (run) => !LIVE.includes(run.status) && !(run.launch && run.launch.running);

function followCurves(canvas) {
  const ids = JSON.parse(canvas.dataset.runs);
  const first = {};
  const poll = async () => {
    let body;
    try {
      body = await getJSON("/api/curves?" + ids.map((id) => "run=" + encodeURIComponent(id)).join("&"));
    } catch (error) {
      return setTimeout(poll, 5000);
    }
    drawChart(canvas, body.runs);
    for (const run of body.runs) {
      document.querySelectorAll(`[data-run-status="${CSS.escape(run.id)}"]`).forEach((node) => {
        node.replaceChildren(el("span", run.status, "status status-" + run.status));
      });
      const step = document.getElementById("run-step");
      if (step && run.summary) step.textContent = run.summary.step;
      if (ids.length === 1) showLaunch(run.launch);
      if (!(run.id in first)) first[run.id] = { status: run.status, settled: settled(run) };
      // A run that just got its folder, or started training (the data report is written then), or just settled,
      // has new sections to show: load the page once more.
      const began = ["starting", "created", "prepared"].includes(first[run.id].status);
      if (ids.length === 1 && began && run.status !== first[run.id].status) return location.reload();
      if (!first[run.id].settled && settled(run)) return location.reload();
    }
    if (!body.runs.every(settled)) setTimeout(poll, 2000);
  };
  poll();
}

// ---- runs table ---------------------------------------------------------------------------------------------------

function followRunsTable(table) {
  const format = (v) => (v === null || v === undefined ? "–" : typeof v === "number" ? v.toFixed(4) : String(v));
  const poll = async () => {
    const body = await getJSON("/api/runs").catch(() => null);
    if (!body) return setTimeout(poll, 5000);
    for (const run of body.runs) {
      const row = table.querySelector(`tr[data-run="${CSS.escape(run.id)}"]`);
      if (!row) continue;
      row.querySelector('[data-field="status"]').replaceChildren(el("span", run.status, "status status-" + run.status));
      row.querySelector('[data-field="step"]').textContent = run.step;
      row.querySelector('[data-field="train_loss"]').textContent = format(run.train_loss);
      row.querySelector('[data-field="eval_loss"]').textContent = format(run.eval_loss);
    }
    if (body.runs.some((run) => LIVE.includes(run.status))) setTimeout(poll, 3000);
  };
  if ([...table.querySelectorAll(".status")].some((s) => LIVE.includes(s.textContent))) setTimeout(poll, 3000);
}

// ---- labelling ----------------------------------------------------------------------------------------------------

const CHOICE_NAMES = { a: "left is better", b: "right is better", tie: "tie", skip: "skipped", correction: "corrected" };

function labeller(app) {
  const task = app.dataset.task;
  const form = document.getElementById("pair");
  const ui = {
    waiting: document.getElementById("waiting"), finished: document.getElementById("finished"),
    error: document.getElementById("label-error"), promptId: document.getElementById("prompt-id"),
    conversation: document.getElementById("conversation"), a: document.getElementById("answer-a"),
    b: document.getElementById("answer-b"), correction: document.getElementById("correction"),
    rated: document.getElementById("rated-count"), total: document.getElementById("total-count"),
    saved: document.getElementById("saved-list"),
  };
  let pair = ui.promptId.value ? { id: +ui.promptId.value, position: +ui.promptId.dataset.position } : null;
  let busy = false;

  const showError = (message) => { ui.error.textContent = message || ""; ui.error.hidden = !message; };

  function show(state) {
    ui.rated.textContent = state.progress.rated;
    ui.total.textContent = state.progress.total;
    showError(state.error);
    pair = state.pair;
    ui.finished.hidden = !state.done;
    ui.waiting.hidden = Boolean(pair) || state.done || Boolean(state.error);
    form.hidden = !pair;
    if (!pair) {
      if (!state.done && !state.error) setTimeout(refresh, 700);
      return;
    }
    ui.promptId.value = pair.id;
    ui.promptId.dataset.position = pair.position;
    ui.conversation.replaceChildren(...pair.messages.map((m) => {
      const box = el("div", undefined, "message role-" + m.role);
      box.append(el("span", m.role, "role"), el("pre", m.content));
      return box;
    }));
    ui.a.textContent = pair.answer_a;
    ui.b.textContent = pair.answer_b;
    ui.correction.value = "";
  }

  async function refresh() {
    try { show(await getJSON(`/api/feedback/${task}/next`)); } catch (error) { showError(error.message); setTimeout(refresh, 2000); }
  }

  async function rate(choice) {
    if (busy || !pair) return;
    const correction = ui.correction.value.trim();
    if (choice === "correction" && !correction) { ui.correction.focus(); return; }
    busy = true;
    const rated = pair;
    try {
      const state = await getJSON(`/api/feedback/${task}/rate`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt_id: rated.id, choice, correction: choice === "correction" ? correction : null }),
      });
      // Only now, with the server's answer in hand, is the rating listed as saved.
      const item = el("li", `prompt ${rated.position + 1}: ${CHOICE_NAMES[state.choice]} ✓ saved`);
      item.dataset.prompt = state.saved;
      item.dataset.choice = state.choice;
      ui.saved.prepend(item);
      show(state);
    } catch (error) {
      showError("not saved: " + error.message);
    } finally {
      busy = false;
    }
  }

  async function undo() {
    const last = ui.saved.firstElementChild;
    if (busy || !last) return;
    busy = true;
    try {
      const state = await getJSON(`/api/feedback/${task}/undo`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt_id: +last.dataset.prompt }),
      });
      last.remove();
      show(state);
    } catch (error) {
      showError("not undone: " + error.message);
    } finally {
      busy = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (event.submitter && event.submitter.value) rate(event.submitter.value);
  });
  document.addEventListener("keydown", (event) => {
    if (event.target === ui.correction) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); rate("correction"); }
      if (event.key === "Escape") ui.correction.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) return;
    const keys = { "1": "a", ArrowLeft: "a", "2": "b", ArrowRight: "b", t: "tie", s: "skip" };
    if (keys[event.key]) { event.preventDefault(); rate(keys[event.key]); }
    if (event.key === "c") { event.preventDefault(); ui.correction.focus(); }
    if (event.key === "u") { event.preventDefault(); undo(); }
  });
  if (!pair) refresh();
}

// ---- start --------------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("canvas.curves").forEach(followCurves);
  const table = document.getElementById("runs-table");
  if (table) followRunsTable(table);
  const app = document.getElementById("label-app");
  if (app) labeller(app);
  document.querySelectorAll("button[data-stop]").forEach((button) => button.addEventListener("click", async () => {
    button.disabled = true;
    await getJSON(`/api/launch/${encodeURIComponent(button.dataset.stop)}/stop`, { method: "POST" }).catch(() => null);
  }));
});
