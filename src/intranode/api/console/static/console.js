// intranode console: small progressive enhancements. Every page works without this file.
"use strict";

function onReady(fn) {
  if (document.readyState !== "loading") fn();
  else document.addEventListener("DOMContentLoaded", fn);
}

// Create cluster: one section of the form at a time, chosen in the navigation panel.
function wizard() {
  const form = document.querySelector("form.wizard");
  if (!form) return;
  const links = form.querySelectorAll(".wizard-nav a[data-section]");
  const show = (name) => {
    form.querySelectorAll(".form-section").forEach((s) => { s.hidden = s.id !== name; });
    links.forEach((a) => {
      if (a.dataset.section === name) a.setAttribute("aria-current", "step");
      else a.removeAttribute("aria-current");
    });
  };
  links.forEach((a) => a.addEventListener("click", (ev) => {
    ev.preventDefault();
    show(a.dataset.section);
    const first = document.getElementById(a.dataset.section).querySelector("input, select");
    if (first) first.focus();
  }));
  show(form.dataset.initialSection || "basics");
  const invalid = form.querySelector("[aria-invalid=true]");
  if (invalid) invalid.focus();
  const radios = form.querySelectorAll("input[name=location_type]");
  const sync = () => {
    const regional = form.querySelector("input[name=location_type]:checked")?.value === "regional";
    const zone = document.getElementById("zone");
    const region = document.getElementById("region");
    if (zone) zone.disabled = regional;
    if (region) region.disabled = !regional;
  };
  radios.forEach((r) => r.addEventListener("change", sync));
  sync();
}

// Cluster details: follow an operation until it is done, then show the cluster as it is.
function progress() {
  const panel = document.getElementById("progress");
  if (!panel) return;
  const list = panel.querySelector("ul");
  const tick = async () => {
    let data;
    try {
      const r = await fetch(panel.dataset.url, { credentials: "same-origin" });
      if (!r.ok) return setTimeout(tick, 2000);
      data = await r.json();
    } catch (e) {
      return setTimeout(tick, 2000);
    }
    list.innerHTML = data.html; // escaped by the server
    const status = document.getElementById("cluster-status");
    if (data.done) {
      if (status && status.textContent !== data.cluster) location.reload();
      return;
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
}

// Logs explorer: put the cursor where the parser stopped; live tail.
function explorer() {
  const box = document.getElementById("query");
  if (box && box.dataset.errorLine) {
    const lines = box.value.split("\n");
    let pos = 0;
    for (let i = 0; i < Number(box.dataset.errorLine) - 1 && i < lines.length; i++) {
      pos += lines[i].length + 1;
    }
    pos += Number(box.dataset.errorColumn) - 1;
    box.focus();
    box.setSelectionRange(pos, pos + 1);
  }
  const button = document.getElementById("tail");
  if (!button) return;
  let cursor = button.dataset.cursor;
  let timer = null;
  const status = document.getElementById("tail-status");
  const body = () => {
    let table = document.getElementById("results");
    return table ? table.tBodies[0] : null;
  };
  const poll = async () => {
    const url = button.dataset.url + "&after=" + encodeURIComponent(cursor);
    try {
      const r = await fetch(url, { credentials: "same-origin" });
      const data = await r.json();
      if (!r.ok) {
        status.textContent = data.error || "Streaming stopped.";
        return stop();
      }
      cursor = data.cursor;
      const tbody = body();
      if (data.count && tbody) {
        const newestFirst = document.getElementById("order").value !== "asc";
        const holder = document.createElement("tbody");
        holder.innerHTML = data.rows; // escaped by the server
        const rows = Array.from(holder.rows);
        if (newestFirst) rows.reverse().forEach((row) => tbody.insertBefore(row, tbody.firstChild));
        else rows.forEach((row) => tbody.appendChild(row));
      }
      status.textContent = "Streaming: " + (data.count || 0) + " new entries.";
    } catch (e) {
      status.textContent = "Streaming paused: the daemon did not answer.";
    }
  };
  const stop = () => {
    clearInterval(timer);
    timer = null;
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Stream logs";
  };
  button.addEventListener("click", () => {
    if (timer) return stop();
    button.setAttribute("aria-pressed", "true");
    button.textContent = "Stop streaming";
    status.textContent = "Streaming…";
    poll();
    timer = setInterval(poll, 2000);
  });
}

// Workloads: narrow the tables as you type.
function filters() {
  document.querySelectorAll("input[data-filter-target]").forEach((input) => {
    const rows = () => document.querySelectorAll(input.dataset.filterTarget);
    const count = document.getElementById("pod-count");
    const total = count ? count.textContent : "";
    input.addEventListener("input", () => {
      const q = input.value.trim().toLowerCase();
      let shown = 0;
      rows().forEach((tr) => {
        const hit = !q || (tr.dataset.filter || tr.textContent.toLowerCase()).includes(q);
        tr.hidden = !hit;
        if (hit) shown++;
      });
      if (count) count.textContent = q ? shown + " pods match “" + input.value + "”." : total;
    });
  });
}

// Subnet: the flow-log settings apply only while flow logs are on.
function subnetForm() {
  const settings = document.getElementById("flow-settings");
  if (!settings) return;
  const radios = document.querySelectorAll("input[name=enable]");
  const sync = () => {
    settings.disabled = document.querySelector("input[name=enable]:checked")?.value !== "on";
  };
  radios.forEach((r) => r.addEventListener("change", sync));
  sync();
}

// Traffic map: redraw every few seconds while "Refresh" is ticked.
function trafficMap() {
  const view = document.getElementById("map-view");
  const live = document.getElementById("live");
  if (!view || !live) return;
  const tick = async () => {
    if (live.checked && !document.hidden) {
      try {
        const r = await fetch(view.dataset.url, { credentials: "same-origin" });
        if (r.ok) view.innerHTML = await r.text(); // rendered and escaped by the server
      } catch (e) { /* keep the last map */ }
    }
    setTimeout(tick, 3000);
  };
  setTimeout(tick, 3000);
}

onReady(() => {
  wizard();
  progress();
  explorer();
  filters();
  subnetForm();
  trafficMap();
});
