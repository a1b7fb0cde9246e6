// The facilitator's view: the ground truth as it happens, the script and
// the injects to come, alerts with their verdicts, the players' answers,
// the controls and notes.
"use strict";
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const hms = (t) => (t || "").slice(11, 19);
const seen = new Set();
const released = new Map();
let state = "ready";

function post(path, body) {
  return fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    .then(async (r) => { if (!r.ok) throw new Error(await r.text()); return r.json(); });
}
function row(table, html, top) {
  const tr = document.createElement("tr");
  tr.innerHTML = html;
  const tb = $(table + " tbody");
  top ? tb.prepend(tr) : tb.append(tr);
  return tr;
}
function buttons() {
  const on = { start: state === "ready", pause: state === "running", resume: state === "paused", speed: state !== "ended", skip: state === "running" || state === "paused", end: state !== "ended" };
  for (const b of document.querySelectorAll("button[data-action]")) b.disabled = !on[b.dataset.action];
}

fetch("scenario").then((r) => r.json()).then((s) => {
  $("#title").textContent = s.title;
  document.title = "Facilitator — " + s.title;
  for (const a of s.actors || []) {
    if (a.kind === "staff") { row("#script", `<td>${esc(a.id)}</td><td>staff population (their working day)</td>`); continue; }
    for (const st of a.steps || []) row("#script", `<td>${esc(a.id)}</td><td>${esc(st.text)}<div class="muted">${st.at ? "at " + esc(hms(st.at)) : "after the previous step"}</div></td>`);
  }
  for (const e of s.expect || []) row("#expect", `<td>${esc(e.rule)}</td><td>${e.must_not_fire ? "must not fire" : "within " + esc(e.within) + " after " + esc(e.after)}</td>`);
});

function onClock(c) {
  state = c.state;
  $("#clock").textContent = hms(c.t);
  $("#state").textContent = c.state;
  $("#state").className = "state " + c.state;
  $("#speed").textContent = "×" + c.speed;
  if (document.activeElement !== $("#c-speed")) $("#c-speed").value = c.speed;
  const tb = $("#actors tbody");
  tb.innerHTML = Object.entries(c.actors || {}).map(([a, t]) => `<tr><td><strong>${esc(a)}</strong></td><td>${esc(t)}</td></tr>`).join("") || "<tr><td>nobody has acted yet</td></tr>";
  $("#counts").textContent = `${c.events} audit events · ${c.staff_actions} staff actions` + (c.next ? ` · next scripted action at ${hms(c.next)}` : "");
  const up = $("#upcoming tbody");
  up.querySelectorAll("tr.pending").forEach((r) => r.remove());
  for (const u of c.upcoming || []) {
    if (released.has(u.id)) continue;
    const tr = row("#upcoming", `<td><strong>${esc(u.title || u.id)}</strong><div class="muted">${esc(u.when)}</div></td><td>${u.skipped ? esc(u.skipped) : "due " + esc(hms(u.due) || "on its condition")}</td>`);
    tr.className = "pending";
  }
  buttons();
}

const es = new EventSource("stream?last=0");
const on = (type, f) => es.addEventListener(type, (ev) => { const id = Number(ev.lastEventId); if (seen.has(id)) return; seen.add(id); document.body.dataset.lastId = id; f(JSON.parse(ev.data)); });
on("clock", onClock);
on("note", (n) => {
  // Progress notes update the actors table through the clock. What the
  // run says of itself (a valid password found, a budget spent, falling
  // behind its clock) stays in the run log, for the facilitator only.
  if (n.kind === "pace") { $("#pace").textContent = "⚠ " + n.text; $("#pace").hidden = false; }
  if (n.kind === "info" || n.kind === "pace") row("#runlog", `<td class="mono">${esc(hms(n.t))}</td><td><strong>${esc(n.actor || "the run")}</strong><div>${esc(n.text)}</div></td>`, true);
});
on("truth", (t) => {
  const det = [t.user, t.mailbox, t.count ? t.count + " item(s)" : "", t.bytes ? t.bytes + " B" : ""].filter(Boolean).join(" · ");
  row("#truth", `<td class="mono">${esc(hms(t.t))}</td><td>${esc(t.actor)}</td><td>${esc(t.step)}</td><td class="mono">${esc(t.action)}</td><td>${esc(t.outcome)}</td><td>${esc(det)}</td>`, true);
});
on("alert", (a) => {
  const ok = a.verdict.startsWith("expected");
  const tr = row("#alerts", `<td>${a.n}</td><td class="mono">${esc(hms(a.t))}</td><td><span class="lvl ${esc(a.level)}">${esc(a.level)}</span></td><td>${esc(a.title)}</td>` +
    `<td class="verdict ${ok ? "ok" : "warn"}">${ok ? "✔ " : "⚠ "}${esc(a.verdict)}</td><td class="players">—</td>`, true);
  tr.id = "alert-" + a.n;
});
on("ack", (k) => { const c = document.querySelector(`#alert-${k.n} .players`); if (c) c.innerHTML = `<span class="taken">taken up after ${esc(k.after)}</span>`; });
on("inject", (i) => {
  released.set(i.id, i);
  const qs = (i.questions || []).map((q) => `<div>Q: ${esc(q.text)}${q.expected ? ` <span class="muted">(expected: ${esc(q.expected)})</span>` : ""}</div>`).join("");
  const tr = row("#upcoming", `<td><strong>${esc(i.title || i.id)}</strong><div>${esc(i.text)}</div>${qs}</td><td class="mono">${esc(hms(i.t))}<div class="muted">${esc(i.why)}</div></td>`, true);
  tr.className = "released";
  tr.id = "inject-" + i.n;
});
on("answer", (a) => row("#answers", `<td>${esc(a.title || a.inject)}</td><td>${esc(a.question)}</td><td>${esc(a.answer)}</td><td>${esc(a.after)}</td><td>${a.correct === "yes" ? "✔ expected" : a.correct === "no" ? "✘ not expected" : ""}</td>`, true));
on("fnote", (n) => row("#notes", `<td class="mono">${esc(hms(n.t))}</td><td>${esc(n.text)}</td>`, true));
on("control", (c) => { $("#control-msg").textContent = hms(c.t) + " " + c.action; });
on("refused", (r) => row("#refused", `<td class="mono">${esc(r.wall.slice(11, 19))}</td><td>${esc(r.what)}: ${esc(r.why)}</td>`, true));
on("end", (e) => {
  state = "ended"; buttons();
  $("#debrief").hidden = false; $("#debrief-dl").hidden = false;
  document.body.dataset.ended = "1";
});

document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-action]");
  if (!b) return;
  const body = { action: b.dataset.action };
  if (body.action === "speed") body.speed = Number($("#c-speed").value);
  post("control", body).then((r) => { $("#control-msg").textContent = r.ok; }).catch((err) => { $("#control-msg").textContent = err.message; });
});
$("#note-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("#note").value.trim();
  if (!t) return;
  post("note", { text: t }).then(() => { $("#note").value = ""; });
});
buttons();
