// The players' console: alerts, the raw audit trail (filterable), and the
// injects with their questions. Live through server-sent events; a
// reconnecting EventSource sends Last-Event-ID, so nothing is missed.
"use strict";
const $ = (s) => document.querySelector(s);
const events = [], seen = new Set(), alerts = new Map(), actions = new Set();
let dup = 0, lastId = 0, renderQueued = false;
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const hms = (t) => (t || "").slice(11, 19);

function post(path, body) {
  return fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    .then(async (r) => { if (!r.ok) throw new Error(await r.text()); return r.json(); });
}

function onClock(c) {
  $("#clock").textContent = hms(c.t);
  const st = $("#state");
  st.textContent = c.state === "ready" ? "waiting" : c.state;
  st.className = "state " + c.state;
}

function onAlert(a) {
  if (alerts.has(a.n)) return;
  alerts.set(a.n, a);
  const tr = document.createElement("tr");
  tr.id = "alert-" + a.n;
  tr.dataset.n = a.n;
  tr.dataset.shown = a.shown;
  tr.dataset.rendered = Date.now();
  const group = Object.entries(a.group || {}).map(([k, v]) => k + "=" + v).join(", ");
  tr.innerHTML = `<td>${a.n}</td><td class="mono">${esc(hms(a.t))}</td><td><span class="lvl ${esc(a.level)}">${esc(a.level)}</span></td>` +
    `<td>${esc(a.title)}</td><td class="mono">${esc(group)}</td><td>${a.events.length}</td>` +
    `<td><button class="ack" data-n="${a.n}">Take up</button></td>`;
  $("#alerts tbody").prepend(tr);
  $("#alert-count").textContent = "(" + alerts.size + ")";
}

function onInject(i) {
  if (document.getElementById("inject-" + i.n)) return;
  $("#no-injects")?.remove();
  const d = document.createElement("div");
  d.className = "inject";
  d.id = "inject-" + i.n;
  let h = `<h3>${esc(i.title || "Message " + i.n)} <span class="muted">${esc(hms(i.t))}</span></h3><p>${esc(i.text).replace(/\n/g, "<br>")}</p>`;
  for (const q of i.questions) {
    h += `<form class="q" data-inject="${i.n}" data-q="${esc(q.id)}"><div><strong>${esc(q.text)}</strong></div>`;
    if (q.choices && q.choices.length) {
      for (const c of q.choices) h += `<label><input type="radio" name="a" value="${esc(c)}"> ${esc(c)}</label> `;
    } else {
      h += `<textarea name="a" aria-label="${esc(q.text)}"></textarea>`;
    }
    h += ` <button type="submit">Send answer</button> <span class="receipt"></span></form>`;
  }
  d.innerHTML = h;
  $("#injects").prepend(d);
}

function onReceipt(r) {
  if (r.kind === "ack") {
    const b = document.querySelector(`#alert-${r.alert} button.ack`);
    if (b) b.outerHTML = `<span class="taken">taken up ${esc(hms(r.t))}</span>`;
  } else if (r.kind === "answer") {
    const f = document.querySelector(`form.q[data-inject="${r.inject}"][data-q="${r.question}"] .receipt`);
    if (f) f.textContent = "answer recorded " + hms(r.t) + ": " + r.answer;
  }
}

function matches(e) {
  const v = (id) => $(id).value.trim().toLowerCase();
  const u = v("#f-user"), s = v("#f-src"), a = v("#f-action"), o = $("#f-outcome").value, from = v("#f-from"), to = v("#f-to"), txt = v("#f-text");
  if (u && !((e.user || "").toLowerCase().includes(u) || (e.owner || "").toLowerCase().includes(u))) return false;
  if (s && !(e.src || "").includes(s)) return false;
  if (a && !e.action.includes(a)) return false;
  if (o && e.outcome !== o) return false;
  const hm = hms(e.t).slice(0, 5);
  if (from && hm < from) return false;
  if (to && hm > to) return false;
  if (txt && !JSON.stringify(e).toLowerCase().includes(txt)) return false;
  return true;
}

function render() {
  renderQueued = false;
  const rows = [];
  let n = 0;
  for (let i = events.length - 1; i >= 0 && rows.length < 300; i--) {
    const e = events[i];
    if (!matches(e)) continue;
    n++;
    const det = [e.search && "search: " + e.search, e.file && "file: " + e.file, e.size && e.size + " B", e.rcpt_to && "to: " + e.rcpt_to,
      e.mail_from && "from: " + e.mail_from, e.subject && "subject: " + e.subject, e.client && "client: " + e.client, e.reason].filter(Boolean).join(" · ");
    rows.push(`<tr data-id="${esc(e.id)}"><td class="mono">${esc(hms(e.t))}</td><td class="mono">${esc(e.action)}</td><td>${esc(e.outcome)}</td>` +
      `<td>${esc(e.user)}</td><td>${esc((e.owner ? e.owner + ":" : "") + (e.mailbox || ""))}</td><td class="mono">${esc(e.src)}</td><td>${esc(det)}</td></tr>`);
  }
  $("#events tbody").innerHTML = rows.join("");
  $("#event-count").textContent = `(${events.length} events${rows.length < events.length ? ", newest " + rows.length + " matching shown" : ""})`;
  const dl = $("#actions");
  if (dl.children.length !== actions.size) dl.innerHTML = [...actions].sort().map((a) => `<option value="${esc(a)}">`).join("");
}

function queueRender() {
  if (!renderQueued) { renderQueued = true; setTimeout(render, 150); }
}

function track(ev) {
  const id = Number(ev.lastEventId);
  if (seen.has(id)) { dup++; return false; }
  seen.add(id);
  lastId = Math.max(lastId, id);
  document.body.dataset.lastId = lastId;
  document.body.dataset.received = seen.size;
  document.body.dataset.duplicates = dup;
  return true;
}

const es = new EventSource("stream?last=0");
window.maildrillStream = es;
es.addEventListener("clock", (ev) => { if (track(ev)) onClock(JSON.parse(ev.data)); });
es.addEventListener("event", (ev) => {
  if (!track(ev)) return;
  const e = JSON.parse(ev.data);
  events.push(e); actions.add(e.action); queueRender();
});
es.addEventListener("alert", (ev) => { if (track(ev)) onAlert(JSON.parse(ev.data)); });
es.addEventListener("inject", (ev) => { if (track(ev)) onInject(JSON.parse(ev.data)); });
es.addEventListener("receipt", (ev) => { if (track(ev)) onReceipt(JSON.parse(ev.data)); });
es.addEventListener("end", (ev) => { if (track(ev)) { const st = $("#state"); st.textContent = "ended"; st.className = "state ended"; document.body.dataset.ended = "1"; } });
es.addEventListener("open", () => { document.body.dataset.opens = Number(document.body.dataset.opens || 0) + 1; });

document.addEventListener("input", (e) => { if (e.target.closest(".filters")) queueRender(); });
document.addEventListener("click", (e) => {
  const b = e.target.closest("button.ack");
  if (!b) return;
  b.disabled = true;
  post("ack", { alert: Number(b.dataset.n) }).catch((err) => { b.disabled = false; alert(err.message); });
});
document.addEventListener("submit", (e) => {
  const f = e.target.closest("form.q");
  if (!f) return;
  e.preventDefault();
  const a = f.querySelector("textarea")?.value ?? f.querySelector("input[name=a]:checked")?.value ?? "";
  post("answer", { inject: Number(f.dataset.inject), question: f.dataset.q, answer: a })
    .catch((err) => { f.querySelector(".receipt").textContent = err.message; });
});
