// Shared helpers of the chat and designer pages.
// Text always goes into the page through textContent (el()); the only HTML inserted is the
// answer HTML that the server has already sanitized with nh3 (see content_designer/chat.py).
"use strict";

/** Build an element: el("a", {href: "#", class: "x"}, "text", childNode, ...). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Remove every child of a node. */
function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** A random id for a chat session. */
function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.problems = (body && body.problems) || [];
  }
}

/** Call the API. body: an object (sent as JSON) or FormData. Returns parsed JSON. */
async function callApi(method, path, body, token) {
  const headers = {};
  if (token) headers["Authorization"] = `Bearer ${token}`;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, {method, headers, body: payload});
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = {error: text}; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A list of an error's message and per-field problems, as elements. */
function errorView(error) {
  return el("div", {class: "error", role: "alert"},
    el("strong", {}, error.message),
    error.problems && error.problems.length
      ? el("ul", {}, error.problems.map((p) => el("li", {}, p.field ? `${p.field}: ${p.message}` : p.message)))
      : null);
}
