// War Room API docs: renders /api/v1/openapi.json and sends requests from the page.
// Served by the gateway itself (no CDN), so it works offline. No framework: the DOM API.
"use strict";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};

function operation(path, method, op) {
  const box = el("details", { class: "op " + method });
  box.append(el("summary", {}, el("span", { class: "method" }, method.toUpperCase()),
    el("code", {}, path), " ", el("span", { class: "summary" }, op.summary || "")));
  if (op.description) box.append(el("p", {}, op.description));
  const inputs = {};
  const params = op.parameters || [];
  if (params.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"),
      el("th", {}, "value"), el("th", {}, "description")));
    for (const p of params) {
      const input = el("input", { placeholder: p.required ? "required" : "optional" });
      inputs[p.name] = [p.in, input];
      table.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
        el("td", {}, input), el("td", {}, p.description || "")));
    }
    box.append(table);
  }
  let body = null;
  if (op.requestBody) {
    body = el("textarea", { rows: "5", placeholder: "JSON body" });
    box.append(el("div", {}, "Body (", (op.requestBody.description || "JSON"), ")"), body);
  }
  const responses = el("ul");
  for (const [code, r] of Object.entries(op.responses || {})) {
    responses.append(el("li", {}, el("code", {}, code), " ", r.description || ""));
  }
  box.append(el("div", {}, "Responses:"), responses);
  const send = el("button", {}, "Send");
  const out = el("pre", { class: "out" });
  send.addEventListener("click", async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const [name, [where, input]] of Object.entries(inputs)) {
      if (!input.value) continue;
      if (where === "path") url = url.replace("{" + name + "}", encodeURIComponent(input.value));
      else if (where === "query") query.append(name, input.value);
    }
    if ([...query].length) url += "?" + query;
    const headers = {};
    const token = document.getElementById("token").value.trim();
    if (token) headers["Authorization"] = "Bearer " + token;
    const init = { method: method.toUpperCase(), headers };
    if (body && body.value.trim()) {
      headers["Content-Type"] = "application/json";
      init.body = body.value;
    }
    out.textContent = "…";
    try {
      const response = await fetch(url, init);
      const text = await response.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
      out.textContent = response.status + " " + response.statusText + "\n" + shown;
    } catch (e) {
      out.textContent = "request failed: " + e;
    }
  });
  if (path !== "/api/v1/ws") box.append(send);
  box.append(out);
  return box;
}

async function main() {
  const root = document.getElementById("api");
  let spec;
  try {
    spec = await (await fetch("/api/v1/openapi.json")).json();
  } catch (e) {
    root.textContent = "could not load /api/v1/openapi.json: " + e;
    return;
  }
  document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
  const byTag = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op));
    }
  }
  for (const [tag, ops] of byTag) {
    root.append(el("h2", {}, tag), ...ops);
  }
}

main();
