// Shared helpers of the chat and designer pages.
// Text always goes into the page through textContent (el()); the only HTML inserted is the
// answer HTML that the server has already sanitized with nh3 (see content_designer/chat.py).
// Every URL is relative (no leading "/"), so the pages work under any path prefix, such as
// API Gateway's /prod/ stage.
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

/** An SVG element (charts): svg("rect", {x: 1, y: 2}). */
function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
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

/** Load a script of this site (a relative URL) once; resolves when it has run. */
function loadScript(path) {
  const found = [...document.scripts].find((script) => script.dataset.path === path);
  if (found) return found.loaded;
  const script = document.createElement("script");
  script.dataset.path = path;
  script.loaded = new Promise((resolve, reject) => {
    script.addEventListener("load", resolve);
    script.addEventListener("error", () => reject(new Error(`could not load ${path}`)));
  });
  script.setAttribute("src", path);
  document.head.append(script);
  return script.loaded;
}

/** The one place HTML goes into a page: answer HTML the server already sanitized with nh3
 *  (content_designer/chat.py), or that the Lex transport sanitized with its vendored library. */
function showSanitizedHtml(node, html) {
  node.innerHTML = html;
  return node;
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
  const response = await fetch(path.replace(/^\//, ""), {method, headers, body: payload});
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = {error: text}; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A field name as a person reads it: "body.q[0]" -> "question 1". */
function fieldLabel(field) {
  const names = {q: "question", a: "answer", t: "topic", r: "response card", alt: "alternate answers",
                 l: "Lambda hook", sa: "session attribute", rp: "reprompt", passage: "passage",
                 qid: "qid", next: "next qid", args: "Lambda hook argument"};
  const path = String(field || "").replace(/^body\.?/, "").replace(/^item\.?/, "");
  if (!path) return "";
  return path.replace(/^([A-Za-z]+)/, (name) => names[name] || name)
    .replace(/\[(\d+)\]/g, (_, n) => ` ${Number(n) + 1}`).replace(/\./g, " › ");
}

/** An error as elements: one plain sentence, then each field's problem (never twice). */
function errorView(error) {
  const problems = (error.problems || []).filter((p) => p && p.message);
  const heading = problems.length ? (error.summary || "Not saved. Please fix:") : error.message;
  return el("div", {class: "error", role: "alert"},
    el("strong", {}, heading),
    problems.length
      ? el("ul", {}, problems.map((p) => {
          const label = fieldLabel(p.field);
          const message = label && !p.message.startsWith(label) ? `${label}: ${p.message}` : p.message;
          return el("li", {}, message);
        }))
      : null);
}

// --- speech --------------------------------------------------------------------------------

/** The words of an SSML answer, for the browser's speech synthesis (aliases spoken). */
function ssmlToSpeech(ssml) {
  // DOMParser documents are inert (no scripts, no loads); HTML parsing also takes Polly's
  // prefixed tags (<amazon:effect>) that an XML parser would refuse.
  const doc = new DOMParser().parseFromString(String(ssml || ""), "text/html");
  const words = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { words.push(node.nodeValue); return; }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    const name = node.localName;
    if (name === "sub" && node.getAttribute("alias")) { words.push(` ${node.getAttribute("alias")} `); return; }
    if (name === "break" || name === "p" || name === "s") words.push(" ");
    for (const child of node.childNodes) walk(child);
  };
  walk(doc.body);
  return words.join("").replace(/\s+/g, " ").replace(/ ([.,;:!?])/g, "$1").trim();
}

/** Read text aloud with the browser's voice; false when the browser cannot speak. */
function speak(text, lang) {
  if (!("speechSynthesis" in window) || !text) return false;
  window.speechSynthesis.cancel();
  const utterance = new SpeechSynthesisUtterance(text);
  if (lang) utterance.lang = lang;
  window.speechSynthesis.speak(utterance);
  return true;
}
