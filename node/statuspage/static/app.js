// The status page: fetches /api/status every second and redraws.
"use strict";

const palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function ms(v) {
  const n = Number(v);
  if (n < 0) return "never";
  if (n < 1000) return n + " ms";
  if (n < 120000) return (n / 1000).toFixed(1) + " s";
  return Math.round(n / 60000) + " min";
}

function bytes(v) {
  const n = Number(v);
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  return (n / (1 << 20)).toFixed(1) + " MiB";
}

function rows(tbody, items, render) {
  tbody.replaceChildren(...items.map(render));
  if (items.length === 0) tbody.append(el("tr", {}, el("td", { colspan: 9 }, "none")));
}

function colors(members) {
  const c = {};
  members.map((m) => m.id).sort().forEach((id, i) => { c[id] = palette[i % palette.length]; });
  return c;
}

function drawRing(owners, color) {
  const svg = $("#ring");
  const ns = "http://www.w3.org/2000/svg";
  const q = owners.length;
  const paths = [];
  for (let p = 0; p < q; p++) {
    const a0 = (p / q) * 2 * Math.PI - Math.PI / 2, a1 = ((p + 1) / q) * 2 * Math.PI - Math.PI / 2;
    const r0 = 70, r1 = 100;
    const pt = (r, a) => `${(r * Math.cos(a)).toFixed(2)} ${(r * Math.sin(a)).toFixed(2)}`;
    const d = `M ${pt(r1, a0)} A ${r1} ${r1} 0 0 1 ${pt(r1, a1)} L ${pt(r0, a1)} A ${r0} ${r0} 0 0 0 ${pt(r0, a0)} Z`;
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", color[owners[p]] || "#ccc");
    path.setAttribute("stroke", "#fff");
    path.setAttribute("stroke-width", "0.6");
    path.setAttribute("data-partition", p);
    path.setAttribute("data-owner", owners[p]);
    const title = document.createElementNS(ns, "title");
    title.textContent = `partition ${p}: ${owners[p]}`;
    path.append(title);
    paths.push(path);
  }
  const label = document.createElementNS(ns, "text");
  label.setAttribute("text-anchor", "middle");
  label.setAttribute("dy", "0.35em");
  label.setAttribute("font-size", "14");
  label.textContent = `${q} partitions`;
  svg.replaceChildren(...paths, label);
}

// What each security mode means for who is trusted.
const securityNotes = {
  tls: "mutual TLS on the cluster and client ports",
  insecure: "no TLS, and other machines can reach this node: every caller is trusted, admin calls included",
  loopback: "no TLS; bound to loopback, so every process on this machine is trusted",
};

function render(st) {
  $("#node").textContent = `— as seen by ${st.node}`;
  const members = st.members || [];
  const up = members.filter((m) => m.state === "up").length;
  $("#summary").textContent = `${members.length} members, ${up} up · N=${st.n}, Q=${st.partitions} · ring ${st.ring === "stable" ? "stable" : "changing"} · updated ${new Date().toLocaleTimeString()}`;
  // The node's own security mode (empty from a node older than the field).
  const sec = $("#security");
  sec.hidden = !st.security;
  sec.dataset.security = st.security || "";
  sec.textContent = `security: ${st.security} — ${securityNotes[st.security] || ""}`;
  const color = colors(members);
  rows($("#members tbody"), members, (m) => {
    const tr = el("tr", { "data-member": m.id, "data-state": m.state },
      el("td", {}, el("span", { style: `color:${color[m.id]}` }, "■ "), m.id),
      el("td", {}, el("span", { class: `state state-${m.state}` }, m.state)),
      el("td", { class: "num" }, Number(m.phi).toFixed(2)),
      el("td", { class: "num" }, m.id === st.node ? "—" : ms(m.lastHeartbeatAgeMs)),
      el("td", { class: "num" }, `${m.partitionsOwned} / ${m.partitionsHeld}`),
      el("td", { class: "num" }, m.timesDown),
      el("td", {}, m.clusterAddr),
      el("td", {}, m.clientAddr));
    return tr;
  });
  drawRing(st.owners || [], color);
  $("#legend").replaceChildren(...Object.entries(color).map(([id, c]) =>
    el("li", {}, el("span", { style: `background:${c}` }), `${id}: ${(st.owners || []).filter((o) => o === id).length}`)));
  $("#transition").textContent = st.ring === "stable" ? "" :
    `Transition under way: ${st.movesTotal} replicas move cluster-wide; done: ${(st.transitionDone || []).join(", ") || "none yet"}.`;
  rows($("#hints tbody"), st.hints || [], (h) => el("tr", { "data-target": h.target },
    el("td", {}, h.target), el("td", { class: "num" }, h.count), el("td", { class: "num" }, bytes(h.bytes)),
    el("td", { class: "num" }, ms(h.oldestAgeMs)), el("td", { class: "num" }, h.replayed), el("td", { class: "num" }, h.dropped)));
  const transfers = st.transfersTransition === st.ring && st.ring !== "stable" ? (st.transfers || []) : [];
  rows($("#transfers tbody"), transfers, (t) => el("tr", {},
    el("td", { class: "num" }, t.partition), el("td", { class: "num" }, t.keys), el("td", { class: "num" }, t.batches),
    el("td", {}, (t.sourcesDone || []).join(", ")), el("td", {}, t.done ? "yes" : "…")));
  const r = st.repair || {}, tomb = st.tombstones || {}, tables = st.tables || {};
  const dl = $("#repair");
  dl.replaceChildren();
  for (const [k, v] of [["exchanges", r.exchanges], ["keys repaired", r.keysRepaired], ["bytes sent", bytes(r.bytes || 0)],
    ["exchanges restarted", r.exchangesRestarted], ["tombstones held", tomb.held], ["tombstones reaped", tomb.reaped],
    ["reaping", tomb.blocked || "not blocked"], ["actor restarts", st.actorRestarts],
    ["tables", `${tables.tables || 0} (catalog revision ${tables.catalogRevision || 0})`],
    ["deleted tables' data being removed", (tables.purging || []).length ? `ids ${tables.purging.join(", ")}` : "none"]]) {
    dl.append(el("dt", {}, k), el("dd", {}, v === undefined ? 0 : v));
  }
}

async function refresh() {
  try {
    const res = await fetch("/api/status", { cache: "no-store" });
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    render(await res.json());
    $("#error").hidden = true;
  } catch (e) {
    $("#error").textContent = `cannot read this node's status: ${e.message}`;
    $("#error").hidden = false;
  }
}

refresh();
setInterval(refresh, 1000);
