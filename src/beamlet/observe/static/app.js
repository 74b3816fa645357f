// The beamlet dashboard page: one view at a time, chosen by the URL's hash, updated by server
// push (an EventSource on /api/events). Each view builds its skeleton once (mount) and fills
// in the data of every event (update), so inputs keep their focus while the page is live.
"use strict";

const view = document.getElementById("view");
const live = document.getElementById("live");
const tokenInput = document.getElementById("token");
tokenInput.value = sessionStorage.getItem("beamlet-token") || "";
tokenInput.addEventListener("change", () => sessionStorage.setItem("beamlet-token", tokenInput.value));

let stream = null;
// The node the pages show: "" for this one, or the name of a node it is connected to.
let currentNode = sessionStorage.getItem("beamlet-node") || "";
const nodeSelect = document.getElementById("node-select");

function knowNodes(names) {
  for (const name of names) {
    if (![...nodeSelect.options].some(o => o.value === name)) nodeSelect.add(new Option(name, name));
  }
  nodeSelect.value = currentNode;
}

function showNode(name) {
  currentNode = name;
  sessionStorage.setItem("beamlet-node", name);
  knowNodes(name ? [name] : []);
  route();
}

nodeSelect.addEventListener("change", () => showNode(nodeSelect.value));

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"}[c]));
}

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function count(n) { return Number(n).toLocaleString("en-US"); }

function pidLink(ref) {
  if (!ref) return "";
  const label = ref.label ? ` <span class="muted">${esc(ref.label)}</span>` : "";
  if (ref.pid === null || ref.pid === undefined) return `${esc(ref.text)}${label}`;
  return `<a class="pid" href="#/process/${ref.pid}">${esc(ref.text)}</a>${label}`;
}

// A line chart of one series of the overview's history, drawn as SVG (no library needed).
function chart(title, points, key, format) {
  const w = 360, h = 110, pad = 4;
  const values = points.map(p => p[key]);
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
  const line = values.map((v, i) =>
    `${(pad + i * step).toFixed(1)},${(h - pad - (v / max) * (h - 2 * pad - 12)).toFixed(1)}`);
  const last = values.length ? format(values[values.length - 1]) : "–";
  return `<div class="chart" data-chart="${key}"><h3>${esc(title)}: ${esc(last)}</h3>
    <svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
      <text x="${pad}" y="10">max ${esc(format(max))}</text>
      <polyline points="${line.join(" ")}"/></svg></div>`;
}

function listen(name, params, update) {
  if (stream) stream.close();
  const query = new URLSearchParams({view: name, ...params, ...(currentNode ? {node: currentNode} : {})});
  stream = new EventSource(`/api/events?${query}`);
  stream.onmessage = event => { live.className = "on"; update(JSON.parse(event.data)); };
  stream.onerror = () => { live.className = ""; };
}

// ------------------------------------------------------------------ overview
function overview() {
  view.innerHTML = `<h2>Overview</h2><div class="cards" id="cards"></div>
    <div class="charts" id="charts"></div>
    <section><h2>Run queues</h2><table id="queues"></table></section>
    <section><h2>Connected nodes</h2><div id="nodes"></div></section>`;
  listen("overview", {}, o => {
    document.getElementById("node-name").textContent = o.node;
    const cards = [["node", o.node], ["uptime", `${o.uptime} s`], ["processes", count(o.processes)],
      ["reductions/s", count(Math.round(o.reductions_per_s))],
      ["messages/s", o.messages_per_s === undefined ? "–" : count(Math.round(o.messages_per_s))],
      ["messages queued", count(o.messages_queued)], ["longest mailbox", count(o.longest_queue)],
      ["memory", bytes(o.rss)], ["hand-offs", o.handoffs === null ? "–" : count(o.handoffs)],
      ["schedulers", o.schedulers]];
    document.getElementById("cards").innerHTML = cards.map(([k, v]) =>
      `<div class="card" data-card="${esc(k)}"><div class="k">${esc(k)}</div>
       <div class="v">${esc(v)}</div></div>`).join("");
    document.getElementById("charts").innerHTML =
      chart("processes", o.history, "processes", count) +
      chart("reductions/s", o.history, "reductions_per_s", v => count(Math.round(v))) +
      chart("messages/s", o.history, "messages_per_s", v => count(Math.round(v || 0))) +
      chart("memory", o.history, "rss", bytes) +
      chart("messages queued", o.history, "messages_queued", count);
    knowNodes(o.nodes || []);
    document.getElementById("nodes").innerHTML = (o.nodes || []).length ? (o.nodes || []).map(n =>
      `<button class="node-link" data-node="${esc(n)}">${esc(n)}</button>`).join(" ")
      : `<span class="muted">none</span>`;
    document.querySelectorAll("button.node-link").forEach(b =>
      b.addEventListener("click", () => showNode(b.dataset.node)));
    document.getElementById("queues").innerHTML = "<tr><th>queue</th><th>runnable</th></tr>" +
      Object.entries(o.run_queue).map(([p, n]) =>
        `<tr><td>${esc(p)}</td><td class="num">${count(n)}</td></tr>`).join("");
  });
}

// ------------------------------------------------------------------ processes
const COLUMNS = [["pid", "pid"], ["name", "name / initial call"], [null, "current function"],
  [null, "status"], ["reductions", "reductions"], [null, "recent/s"], ["memory", "memory"],
  ["message_queue_len", "message queue"]];

function processes(params) {
  const state = {sort: params.get("sort") || "pid", desc: params.get("desc") === "1",
    filter: params.get("filter") || "", offset: Number(params.get("offset") || 0), size: 50};
  view.innerHTML = `<h2>Processes</h2><div class="bar">
      <input id="filter" placeholder="filter: name, initial call, pid" value="${esc(state.filter)}">
      <span id="total"></span>
      <button id="prev">◀ previous</button><button id="next">next ▶</button></div>
    <table id="proc-table"><thead><tr>${COLUMNS.map(([key, title]) => key
      ? `<th data-sort="${key}">${esc(title)}</th>` : `<th>${esc(title)}</th>`).join("")}</tr></thead>
    <tbody></tbody></table>`;
  const go = changes => {
    Object.assign(state, changes);
    const q = new URLSearchParams({sort: state.sort, desc: state.desc ? "1" : "0",
      filter: state.filter, offset: String(state.offset)});
    history.replaceState(null, "", `#/processes?${q}`);
    start();
  };
  view.querySelectorAll("th[data-sort]").forEach(th => th.addEventListener("click", () => {
    const key = th.dataset.sort;
    go({sort: key, desc: key === state.sort ? !state.desc : key !== "pid" && key !== "name",
        offset: 0});
  }));
  let typing = null;
  document.getElementById("filter").addEventListener("input", event => {
    clearTimeout(typing);
    typing = setTimeout(() => go({filter: event.target.value, offset: 0}), 250);
  });
  document.getElementById("prev").addEventListener("click",
    () => go({offset: Math.max(0, state.offset - state.size)}));
  document.getElementById("next").addEventListener("click",
    () => go({offset: state.offset + state.size}));
  view.querySelector("tbody").addEventListener("click", event => {
    const row = event.target.closest("tr.proc-row");
    if (row) location.hash = `#/process/${row.dataset.pid}`;
  });
  function start() {
    view.querySelectorAll("th[data-sort]").forEach(th => {
      th.classList.toggle("sorted", th.dataset.sort === state.sort);
      th.classList.toggle("asc", !state.desc);
    });
    listen("processes", {sort: state.sort, desc: state.desc ? "1" : "0", filter: state.filter,
      offset: state.offset, size: state.size}, page => {
      document.getElementById("node-name").textContent = page.node;
      const end = Math.min(page.total, page.offset + page.rows.length);
      document.getElementById("total").textContent =
        `${count(page.offset + (page.rows.length ? 1 : 0))}–${count(end)} of ${count(page.total)}`;
      view.querySelector("tbody").innerHTML = page.rows.map(r => `
        <tr class="proc-row" data-pid="${r.pid}"><td><a href="#/process/${r.pid}">${esc(r.text)}</a></td>
        <td class="wrap">${r.name ? `<b>${esc(r.name)}</b> ` : ""}<span class="muted">${esc(r.initial_call)}</span></td>
        <td class="wrap">${esc(r.current_function)}</td><td>${esc(r.status)}</td>
        <td class="num">${count(r.reductions)}</td><td class="num">${count(Math.round(r.recent))}</td>
        <td class="num">${bytes(r.memory)}</td><td class="num mq">${count(r.message_queue_len)}</td></tr>`)
        .join("");
    });
  }
  start();
}

// ------------------------------------------------------------------ one process
function processPage(pid) {
  view.innerHTML = `<div id="proc"></div><div class="bar"><button class="danger" id="kill">Kill
    this process</button><span id="kill-result"></span></div><div id="proc-body"></div>`;
  document.getElementById("kill").addEventListener("click", async () => {
    if (!confirm(`Kill process ${pid} with reason "kill"? It cannot trap this.`)) return;
    const where = currentNode ? `?node=${encodeURIComponent(currentNode)}` : "";
    const res = await fetch(`/api/process/${pid}/kill${where}`, {method: "POST",
      headers: {"X-Beamlet-Token": tokenInput.value}});
    const out = document.getElementById("kill-result");
    out.textContent = res.ok ? `killed (${(await res.json()).result})` : `refused: ${await res.text()}`;
    out.className = res.ok ? "" : "error";
  });
  listen("process", {pid}, p => {
    const head = document.getElementById("proc");
    if (!p.alive) {
      head.innerHTML = `<h2>Process ${esc(pid)} <span class="error">is dead</span></h2>`;
      document.getElementById("kill").disabled = true;
      return;
    }
    head.innerHTML = `<h2>Process ${esc(p.text)} ${p.name ? `<b>${esc(p.name)}</b>` : ""}
      <span class="muted">${esc(p.label)}</span></h2>`;
    const refs = list => list.length ? list.map(pidLink).join("<br>") : `<span class="muted">none</span>`;
    const info = Object.entries(p.info).map(([k, v]) =>
      `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("");
    document.getElementById("proc-body").innerHTML = `
      <section><table id="info">${info}</table></section>
      <section><h2>Supervisor chain</h2>${refs(p.ancestors)}</section>
      <section><h2>Links</h2>${refs(p.links)}</section>
      <section><h2>Monitors</h2>${refs(p.monitors)}</section>
      <section><h2>Monitored by</h2>${refs(p.monitored_by)}</section>
      <section><h2>Mailbox: ${count(p.message_count)} message(s)</h2>
        <pre id="messages">${esc(p.messages.join("\n"))}</pre></section>
      <section><h2>Stack</h2><pre>${esc(p.stack.join("\n"))}</pre></section>
      <section><h2>Dictionary</h2><table>${p.dictionary.map(([k, v]) =>
        `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table></section>`;
  });
}

// ------------------------------------------------------------------ supervision trees
function supervisorHead(s) {
  const kind = s.dynamic ? "DynamicSupervisor" : s.label;
  const flags = s.strategy ? `${esc(s.strategy)}, ${s.recent_restarts} restart(s) in the last
    ${esc(s.max_seconds)} s (limit ${esc(s.max_restarts)})` : "";
  return `<span class="muted">${esc(kind)} ${flags}</span>${s.error ?
    ` <span class="error">${esc(s.error)}</span>` : ""}`;
}

// A supervisor's children; a child that is a supervisor carries its own children below it.
function children(s) {
  const rows = s.children.map(c => `<li class="child${c.supervisor ? " sup" : ""}"
      data-id="${esc(c.id)}"${c.supervisor ? ` data-pid="${c.pid}"` : ""}>${!c.id ? "" :
      esc(c.id) + " "}<a class="pid" href="#/process/${c.pid}">${esc(c.text)}</a>
      <span class="muted">${esc(c.type)}${c.restarts_seen ? `, restarted ${c.restarts_seen}×` : ""}</span>
      ${c.supervisor ? supervisorHead(c.supervisor) + children(c.supervisor) : ""}</li>`).join("");
  const more = s.child_count > s.children.length ?
    `<li class="muted">… ${count(s.child_count - s.children.length)} more</li>` : "";
  return `<ul class="tree">${rows}${more}</ul>`;
}

function supervisor(s) {
  return `<ul class="tree"><li class="sup" data-pid="${s.pid}"><span class="title">
    <a href="#/process/${s.pid}">${esc(s.text)}</a> ${esc(s.name || "")}</span>
    ${supervisorHead(s)}${children(s)}</li></ul>`;
}

function tree() {
  view.innerHTML = `<h2>Supervision trees</h2><div id="trees"></div>`;
  listen("tree", {}, t => {
    document.getElementById("node-name").textContent = t.node;
    document.getElementById("trees").innerHTML = t.roots.length ? t.roots.map(supervisor).join("")
      : `<p class="muted">no supervisor runs on this node</p>`;
  });
}

// ------------------------------------------------------------------ routing
function route() {
  nodeSelect.value = currentNode;
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const name = parts[0] || "overview";
  document.querySelectorAll("nav a").forEach(a =>
    a.classList.toggle("active", a.dataset.view === (name === "process" ? "processes" : name)));
  if (name === "processes") processes(params);
  else if (name === "process") processPage(decodeURIComponent(parts[1]));
  else if (name === "tree") tree();
  else overview();
}

window.addEventListener("hashchange", route);
route();
