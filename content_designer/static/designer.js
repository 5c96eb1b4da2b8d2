// The content designer page: items (search, filters, the schema-generated editor), the TEST
// tab, "test all" and tuning, import/export, analytics and settings, all through the admin API.
// Every value from the server is put into the page with textContent (el()), never as HTML,
// except the preview HTML that the server sanitized. Every URL is relative (see common.js).
"use strict";

const TOKEN_KEY = "qnabot-admin-token";
const POLL_MS = 250;
// A running job whose status stays the same this long is stuck (its status cannot be saved, or
// the server stopped): stop polling and say so rather than spin for ever.
const POLL_STALL_MS = 5 * 60 * 1000;
const STAGE_ROWS = 8;  // candidates shown per stage in the TEST tab
const CONFIG = window.QNABOT_CONFIG || {auth: "token"};
const $ = (id) => document.getElementById(id);

// --- sign-in -------------------------------------------------------------------------------

(function takeTokenFromUrl() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
  }
})();

async function token() {
  if (window.QNABOT_AUTH) return window.QNABOT_AUTH.getToken();
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(method, path, body) {
  try {
    return await callApi(method, path, body, await token());
  } catch (error) {
    if (error.status === 401) showLogin("The token was refused; paste the current one.");
    throw error;
  }
}

/** Fetch a file the API serves to admins and return a local link to it. */
async function download(path) {
  const response = await fetch(path.replace(/^\//, ""), {headers: {Authorization: `Bearer ${await token()}`}});
  if (!response.ok) throw new Error(`the file could not be downloaded (HTTP ${response.status})`);
  return URL.createObjectURL(await response.blob());
}

function showLogin(message) {
  $("app").hidden = true;
  $("editor").hidden = true;
  if (window.QNABOT_AUTH) return;  // Cognito signs in through its hosted page
  $("login").hidden = false;
  clear($("login-error"));
  if (message) $("login-error").append(el("p", {class: "error"}, message));
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  $("token-input").value = "";
  start();
});

$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  if (window.QNABOT_AUTH) window.QNABOT_AUTH.signOut(); else showLogin();
});

// --- tabs ----------------------------------------------------------------------------------

const loaders = {items: loadItems, test: () => $("test-question").focus(), testall: loadTestAllHistory,
                 import: () => {}, analytics: loadAnalytics, settings: loadSettings};

for (const tab of document.querySelectorAll(".tabs [data-tab]")) {
  tab.addEventListener("click", () => openTab(tab.dataset.tab));
}

function openTab(name) {
  for (const tab of document.querySelectorAll(".tabs [data-tab]")) {
    tab.classList.toggle("active", tab.dataset.tab === name);
    tab.setAttribute("aria-selected", tab.dataset.tab === name ? "true" : "false");
  }
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== `tab-${name}`;
  loaders[name]();
}

async function refreshCount() {
  try {
    const info = await api("GET", "info");
    $("kb-count").textContent = `${info.items} items`;
    $("kb-count").dataset.count = info.items;
  } catch (error) { /* shown elsewhere */ }
}

// --- items: finding ------------------------------------------------------------------------

const view = {sort: "qid", order: "asc", offset: 0};
let selected = new Set();
let facets = {topics: [], types: [], clients: []};

function fillSelect(select, values, keepFirst) {
  const current = select.value;
  while (select.options.length > keepFirst) select.remove(keepFirst);
  for (const [value, text] of values) select.append(el("option", {value}, text));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

async function loadFacets() {
  try {
    facets = await api("GET", "items-facets");
  } catch (error) { return; }
  fillSelect($("filter-topic"), [["", "(no topic)"], ...facets.topics.map((t) => [t, t])], 1);
  fillSelect($("filter-type"), facets.types.map((t) => [t, t]), 1);
  fillSelect($("filter-client"), [["", "(all clients)"], ...facets.clients.map((c) => [c, c])], 1);
  fillSelect($("test-all-topic"), facets.topics.map((t) => [t, t]), 1);
  fillSelect($("test-all-client"), facets.clients.map((c) => [c, c]), 1);
  clear($("topic-list")).append(...facets.topics.map((t) => el("option", {value: t})));
}

function itemQuestions(item) {
  if (item.type === "text") return "";
  return (item.q || []).join(" · ");
}

function itemAnswer(item) {
  return item.type === "text" ? (item.passage || "") : ((item.alt && item.alt.markdown) || item.a || "");
}

function cut(text, length) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

async function loadItems() {
  const limit = Number($("page-size").value);
  const params = new URLSearchParams({offset: view.offset, limit, sort: view.sort, order: view.order});
  const query = $("item-query").value.trim();
  if (query) params.set("q", query);
  if ($("filter-topic").value !== "*") params.set("topic", $("filter-topic").value);
  if ($("filter-type").value) params.set("type", $("filter-type").value);
  if ($("filter-client").value !== "*") params.set("client", $("filter-client").value);
  const body = $("items-table").tBodies[0];
  for (const header of document.querySelectorAll("#items-table .sort")) {
    const sorted = header.dataset.sort === view.sort;
    header.closest("th").setAttribute("aria-sort", sorted ? (view.order === "asc" ? "ascending" : "descending") : "none");
    header.dataset.arrow = sorted ? (view.order === "asc" ? "▲" : "▼") : "";
  }
  try {
    const page = await api("GET", `items?${params}`);
    clear(body);
    selected = new Set();
    $("select-all").checked = false;
    $("delete-selected").disabled = true;
    $("delete-selected").textContent = "Delete selected";
    shownItems.clear();
    for (const item of page.items) {
      shownItems.set(item.qid, item);
      const box = el("input", {type: "checkbox", "aria-label": `Select ${item.qid}`});
      box.addEventListener("change", () => {
        box.checked ? selected.add(item.qid) : selected.delete(item.qid);
        $("delete-selected").disabled = selected.size === 0;
        $("delete-selected").textContent = selected.size ? `Delete ${selected.size} selected` : "Delete selected";
      });
      body.append(el("tr", {dataset: {qid: item.qid}},
        el("td", {}, box),
        el("td", {class: "qid"}, el("button", {type: "button", class: "link", onclick: () => openItem(item.qid)}, item.qid)),
        el("td", {}, item.type || "qna"),
        el("td", {class: "questions"}, cut(itemQuestions(item), 140)),
        el("td", {class: "answer-cell"}, cut(itemAnswer(item), 160)),
        el("td", {}, item.t || "")));
    }
    if (!page.items.length) body.append(el("tr", {}, el("td", {colspan: 6, class: "muted"}, "No items match.")));
    const last = Math.min(view.offset + page.items.length, page.total);
    $("match-count").textContent = page.total === 1 ? "1 item matches" : `${page.total} items match`;
    $("match-count").dataset.total = page.total;
    $("page-info").textContent = page.total ? `${view.offset + 1}–${last} of ${page.total}` : "";
    $("prev-page").disabled = view.offset === 0;
    $("next-page").disabled = last >= page.total;
  } catch (error) {
    clear(body).append(el("tr", {}, el("td", {colspan: 6}, errorView(error))));
  }
}

function searchAgain() { view.offset = 0; loadItems(); }

$("item-search").addEventListener("submit", (event) => { event.preventDefault(); searchAgain(); });
let typing = null;
$("item-query").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(searchAgain, 250); });
for (const id of ["filter-topic", "filter-type", "filter-client", "page-size"]) $(id).addEventListener("change", searchAgain);
$("prev-page").addEventListener("click", () => { view.offset = Math.max(0, view.offset - Number($("page-size").value)); loadItems(); });
$("next-page").addEventListener("click", () => { view.offset += Number($("page-size").value); loadItems(); });
for (const header of document.querySelectorAll("#items-table .sort")) {
  header.addEventListener("click", () => {
    view.order = view.sort === header.dataset.sort && view.order === "asc" ? "desc" : "asc";
    view.sort = header.dataset.sort;
    searchAgain();
  });
}
$("select-all").addEventListener("change", () => {
  for (const box of $("items-table").tBodies[0].querySelectorAll("input[type=checkbox]")) {
    box.checked = $("select-all").checked;
    box.dispatchEvent(new Event("change"));
  }
});

$("delete-selected").addEventListener("click", async () => {
  const qids = Array.from(selected);
  if (!confirm(`Delete ${qids.length} item(s)? ${cut(qids.join(", "), 200)}`)) return;
  try {
    await api("POST", "items/delete", {qids});
    await loadItems();
    refreshCount();
    loadFacets();
  } catch (error) { clear($("match-count")).append(errorView(error)); }
});

// --- items: the editor ---------------------------------------------------------------------

const schemas = {};
let itemTypes = ["qna", "text"];
let editing = null;  // qid of the stored item in the editor, or null for a new one
let itemForm = null;
let jsonMode = false;

async function schemaOf(type) {
  schemas[type] = schemas[type] || await api("GET", `schemas/${encodeURIComponent(type)}`);
  return schemas[type];
}

const shownItems = new Map();  // the items of the listed page, by qid

async function openItem(qid) {
  try {
    openEditor(shownItems.get(qid) || await api("GET", `items/${encodeURIComponent(qid)}`));
  } catch (error) {
    clear($("match-count")).append(errorView(error));
  }
}

/** The item being edited, from whichever view is showing. Throws on JSON that does not parse. */
function currentItem() {
  if (jsonMode) return JSON.parse($("item-json").value);
  return itemForm.get();
}

async function renderForm(item) {
  const type = item.type || "qna";
  $("item-type").value = type;
  itemForm = ItemForm.build($("item-form"), await schemaOf(type), {...item, type});
  $("item-json").value = JSON.stringify(item, null, 2);
  schedulePreview();
}

async function openEditor(item, {copyOf = null} = {}) {
  editing = item && !copyOf ? item.qid : null;
  $("editor").hidden = false;
  $("editor-title").textContent = copyOf ? `New item (copy of ${copyOf})` : (item && editing ? `Item ${item.qid}` : "New item");
  $("delete-item").hidden = !editing;
  $("duplicate-item").hidden = !editing;
  $("test-item").hidden = !editing;
  clear($("editor-errors"));
  clear($("preview"));
  $("preview-speak").hidden = true;
  setStatus("");
  fillSelect($("item-type"), itemTypes.map((t) => [t, t]), 0);
  $("item-type").disabled = Boolean(editing);
  setJsonMode(false);
  await renderForm(item || {qid: "", q: [""], a: "", type: "qna"});
  const first = $("item-form").querySelector("input, textarea");
  if (first) first.focus();
}

function closeEditor() {
  $("editor").hidden = true;
  if ("speechSynthesis" in window) window.speechSynthesis.cancel();
}

function setStatus(text, kind) {
  $("editor-status").textContent = text;
  $("editor-status").className = kind || "muted";
  $("editor-status").dataset.state = kind || "";
}

function setJsonMode(on) {
  jsonMode = on;
  $("view-json").classList.toggle("active", on);
  $("view-form").classList.toggle("active", !on);
  $("json-view").hidden = !on;
  $("item-form").hidden = on;
  $("type-row").hidden = on;
}

$("view-json").addEventListener("click", () => {
  if (jsonMode) return;
  $("item-json").value = JSON.stringify(itemForm.get(), null, 2);
  setJsonMode(true);
});
$("view-form").addEventListener("click", async () => {
  if (!jsonMode) return;
  let item;
  try {
    item = JSON.parse($("item-json").value);
  } catch (error) {
    clear($("editor-errors")).append(errorView({message: `The JSON does not parse: ${error.message}`}));
    return;
  }
  clear($("editor-errors"));
  setJsonMode(false);
  await renderForm(item);
});
$("item-type").addEventListener("change", async () => {
  const item = itemForm.get();
  await renderForm({...item, type: $("item-type").value});
});
$("close-editor").addEventListener("click", closeEditor);
$("editor").addEventListener("click", (event) => { if (event.target === $("editor")) closeEditor(); });
document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !$("editor").hidden) closeEditor(); });

// Preview: the server renders the answer as the chat would (sanitized HTML, card, SSML).
let previewTimer = null;
let previewSsml = "";
function schedulePreview() { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 300); }
$("item-form").addEventListener("input", () => { schedulePreview(); if ($("editor-status").dataset.state) setStatus(""); });
$("item-json").addEventListener("input", schedulePreview);

async function preview() {
  let item;
  try { item = currentItem(); } catch (error) { return; }
  try {
    const shown = await api("POST", "items/preview", item);
    const box = clear($("preview"));
    box.append(showSanitizedHtml(el("div", {class: "answer"}), shown.html));  // nh3, as in chat
    if (shown.card) {
      box.append(el("div", {class: "card"},
        shown.card.image_url ? el("img", {src: shown.card.image_url, alt: "", referrerpolicy: "no-referrer"}) : null,
        shown.card.title ? el("div", {class: "card-title"}, shown.card.title) : null,
        shown.card.subtitle ? el("div", {class: "card-subtitle"}, shown.card.subtitle) : null,
        el("div", {class: "card-buttons"}, shown.card.buttons.map((b) => el("span", {class: "card-button"}, b.text)))));
    }
    previewSsml = shown.ssml || shown.text || "";
    $("preview-speak").hidden = !previewSsml || !("speechSynthesis" in window);
  } catch (error) { /* the form shows the problems on save */ }
}

$("preview-speak").addEventListener("click", () => speak(ssmlToSpeech(previewSsml), navigator.language));

async function saveItem() {
  clear($("editor-errors"));
  setStatus("Saving…");
  let item;
  try {
    item = currentItem();
  } catch (error) {
    setStatus("Not saved", "error");
    $("editor-errors").append(errorView({message: `The JSON does not parse: ${error.message}`}));
    return;
  }
  if (!jsonMode) {
    const problems = itemForm.validate();
    itemForm.showProblems(problems);
    if (problems.length) {
      setStatus(`Not saved: ${problems.length === 1 ? "1 field needs" : `${problems.length} fields need`} attention`, "error");
      return;
    }
  }
  const qid = String(item.qid || "").trim();
  if (!qid) {
    setStatus("Not saved", "error");
    if (!jsonMode) itemForm.showProblems([{field: "qid", message: "is required"}]);
    else $("editor-errors").append(errorView({message: "The item needs a qid."}));
    return;
  }
  try {
    if (!editing) {
      const exists = await api("GET", `items/${encodeURIComponent(qid)}`).then(() => true, () => false);
      if (exists && !confirm(`An item "${qid}" already exists. Replace it with this one?`)) { setStatus(""); return; }
    } else if (qid !== editing) {
      if (!confirm(`Rename "${editing}" to "${qid}"? The item moves to the new qid; "${editing}" will no longer exist.`)) {
        setStatus("Not saved: the rename was cancelled", "error");
        return;
      }
      await api("POST", `items/${encodeURIComponent(editing)}/rename`, {new_qid: qid});
      editing = qid;
    }
    const saved = await api("PUT", `items/${encodeURIComponent(qid)}`, item);
    editing = saved.qid;
    $("editor-title").textContent = `Item ${saved.qid}`;
    for (const id of ["delete-item", "duplicate-item", "test-item"]) $(id).hidden = false;
    $("item-type").disabled = true;
    if (!jsonMode) itemForm.showProblems([]);
    setStatus("Saved.", "ok");
    loadItems();
    refreshCount();
    loadFacets();
  } catch (error) {
    setStatus("Not saved", "error");
    const unplaced = jsonMode ? error.problems : itemForm.showProblems(error.problems || []);
    if (!error.problems.length || unplaced.length) {
      $("editor-errors").append(errorView({message: error.message, problems: unplaced,
                                           summary: "Not saved. Please fix:"}));
    }
  }
}

$("save-item").addEventListener("click", saveItem);

$("duplicate-item").addEventListener("click", async () => {
  let item;
  try { item = currentItem(); } catch (error) { return; }
  const suggestion = `${editing}-copy`;
  const qid = prompt("qid of the copy:", suggestion);
  if (!qid) return;
  await openEditor({...item, qid}, {copyOf: editing});
  setStatus("Not saved yet: change what differs, then Save.");
});

$("test-item").addEventListener("click", () => {
  let item;
  try { item = currentItem(); } catch (error) { return; }
  closeEditor();
  openTab("test");
  $("test-question").value = (item.q && item.q[0]) || cut(item.passage || "", 200);
  $("test-topic").value = item.t || "";
  $("test-form").requestSubmit();
});

$("delete-item").addEventListener("click", async () => {
  if (!editing || !confirm(`Delete item ${editing}?`)) return;
  try {
    await api("DELETE", `items/${encodeURIComponent(editing)}`);
    closeEditor();
    loadItems();
    refreshCount();
    loadFacets();
  } catch (error) {
    $("editor-errors").append(errorView(error));
  }
});

$("new-item").addEventListener("click", () => openEditor(null));

// --- test ----------------------------------------------------------------------------------

/** The sentence of `text` sharing most words with the question (whole text when short). */
function relevantSentence(text, question) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  if (flat.length <= 180) return flat;
  const words = new Set(question.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) || []);
  const sentences = flat.match(/[^.!?]+[.!?]*/g) || [flat];
  let best = sentences[0], bestScore = -1;
  for (const sentence of sentences) {
    const score = (sentence.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) || []).filter((w) => words.has(w)).length;
    if (score > bestScore) { best = sentence; bestScore = score; }
  }
  best = best.trim();
  const shown = best.length > 220 ? `${best.slice(0, 219)}…` : best;
  return (flat.startsWith(best) ? "" : "… ") + shown + (flat.endsWith(best) ? "" : " …");
}

/** The named numbers of a candidate's evidence (contract C5), or its *_score fields. */
function evidenceOf(hit) {
  if (hit.evidence && typeof hit.evidence === "object") {
    return Object.entries(hit.evidence).filter(([, v]) => typeof v === "number");
  }
  const named = {vector_score: "similarity", answer_score: "answer", keyword_score: "keywords", topic_boost: "topic boost"};
  return Object.entries(named).filter(([key]) => typeof hit[key] === "number").map(([key, name]) => [name, hit[key]]);
}

function evidenceBars(hit) {
  return el("div", {class: "evidence"}, evidenceOf(hit).map(([name, value]) => {
    const bar = el("span", {class: "evidence-bar"});
    bar.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;  // CSSOM: allowed by the CSP
    return el("div", {class: "evidence-row", dataset: {evidence: name}},
      el("span", {class: "evidence-name"}, name), el("span", {class: "evidence-track"}, bar),
      el("span", {class: "evidence-value"}, value.toFixed(2)));
  }));
}

function candidateCard(hit, index, best, question) {
  const isBest = best && hit.qid === best.qid && hit.stage === best.stage;
  const verdict = hit.passed ? (isBest ? "answers" : "passes") : "below threshold";
  const notes = [...(hit.explain || []), ...(hit.suggestions || []).map((s) => `Suggestion: ${s}`)];
  return el("div", {class: `candidate${hit.passed ? " passed" : ""}${isBest ? " best" : ""}`,
                    dataset: {qid: hit.qid, stage: hit.stage}},
    el("div", {class: "candidate-head"},
      el("span", {class: "rank"}, `${index + 1}`),
      el("button", {type: "button", class: "link qid", onclick: () => openItem(hit.qid)}, hit.qid),
      hit.topic ? el("span", {class: "chip"}, hit.topic) : null,
      el("span", {class: "spacer"}),
      el("span", {class: "score", title: `threshold ${hit.threshold}`}, `score ${hit.score.toFixed(3)} / ${hit.threshold}`),
      el("span", {class: `verdict ${hit.passed ? "ok" : "muted"}`}, verdict)),
    el("div", {class: "matched", title: hit.matched}, relevantSentence(hit.matched, question)),
    evidenceBars(hit),
    notes.length ? el("ul", {class: "explain"}, notes.map((n) => el("li", {}, n))) : null);
}

$("test-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const results = clear($("test-results"));
  const summary = clear($("test-summary"));
  const question = $("test-question").value;
  try {
    const client = $("test-client").value.trim();
    const result = await api("POST", "test", {question, topic: $("test-topic").value.trim(),
                                              client_filter: client || null, all_stages: true});
    const best = result.best;
    summary.append(best
      ? el("p", {class: "ok"}, el("strong", {}, `Answer: ${best.qid}`), ` (${best.stage}, score ${best.score.toFixed(3)})`)
      : el("p", {class: "error"}, "No candidate passes its threshold: the bot would answer with no_hits",
          (result.did_you_mean || []).length
            ? ` and offer "did you mean" buttons: ${result.did_you_mean.map((s) => `${s.qid} (${Math.round(s.confidence * 100)}%)`).join(", ")}.`
            : "."),
      el("p", {class: "muted"}, `mode ${result.mode}${result.degraded && result.degraded.length ? ` · ${result.degraded}` : ""}`));
    summary.dataset.best = best ? best.qid : "";
    const stages = [...new Set(result.candidates.map((hit) => hit.stage))];
    for (const stage of stages) {
      const hits = result.candidates.filter((hit) => hit.stage === stage);
      const passing = hits.filter((hit) => hit.passed).length;
      // Stages that cannot answer fold away when another stage answers (cascade order kept).
      const open = !best || passing > 0;
      results.append(el("details", {class: "stage", open, dataset: {stage}},
        el("summary", {class: "stage-title"}, `${stage}: ${hits.length} candidates, ${passing} at or above the threshold ${hits[0].threshold}`),
        el("div", {class: "candidates"}, hits.slice(0, STAGE_ROWS).map((hit, i) => candidateCard(hit, i, best, question)))));
    }
    if (!result.candidates.length) results.append(el("p", {class: "muted"}, "No candidates."));
  } catch (error) {
    results.append(errorView(error));
  }
});

// --- jobs ----------------------------------------------------------------------------------

/** Poll a job until it finishes, calling onStatus with each status. */
async function followJob(job, onStatus) {
  let status = job;
  let changedAt = Date.now();
  onStatus(status);
  while (status.state === "queued" || status.state === "running") {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const next = await api("GET", `jobs/${encodeURIComponent(job.id)}`);
    if (next.state !== "running" || JSON.stringify(next) !== JSON.stringify(status)) changedAt = Date.now();
    status = next;
    onStatus(status);
    if (Date.now() - changedAt > POLL_STALL_MS) {
      throw new Error(`Job ${job.id} has shown no progress for ${POLL_STALL_MS / 60000} minutes, so ` +
                      "this page stopped watching it. Check the server (its log, free disk space), then " +
                      "reload the page to see the job's state.");
    }
  }
  return status;
}

function countsView(list, counts) {
  clear(list);
  for (const [name, value] of Object.entries(counts || {})) {
    list.append(el("div", {class: "count", dataset: {count: name}}, el("dt", {}, name), el("dd", {}, value)));
  }
}

function percent(value) { return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`; }

// --- test all and tune ---------------------------------------------------------------------

for (const radio of document.querySelectorAll("input[name=test-source]")) {
  radio.addEventListener("change", () => {
    const file = document.querySelector("input[name=test-source]:checked").value === "file";
    $("test-file").hidden = !file;
    $("test-all-topic").disabled = file;
  });
}

const STATUS_WORDS = {correct: "✓ correct", ambiguous: "≈ ambiguous", missed: "✗ missed"};

function showTestAll(done) {
  const c = done.counts;
  clear($("test-all-counts")).append(
    card("accuracy", percent(done.result.accuracy), "of the questions with one right answer"),
    card("correct", c.correct, "found their item"),
    card("ambiguous", c.ambiguous || 0, "shared by several items: expected"),
    card("missed", c.missed, "found another item or none", c.missed ? "bad" : ""));
  const body = clear($("test-all-outcomes").tBodies[0]);
  for (const o of done.result.outcomes.filter((o) => o.status !== "correct").slice(0, 500)) {
    const expected = o.expected_qid || "no answer";
    const others = o.shared_with || [];
    const shared = others.length
      ? ` (shared with ${others.slice(0, 3).join(", ")}${others.length > 3 ? ` and ${others.length - 3} more` : ""})` : "";
    body.append(el("tr", {class: `outcome ${o.status}`, dataset: {status: o.status}},
      el("td", {}, STATUS_WORDS[o.status] || o.status), el("td", {}, o.question),
      el("td", {}, expected + shared), el("td", {}, o.found_qid || "no answer"),
      el("td", {}, o.score === null ? "" : o.score.toFixed(3))));
  }
  $("test-all-outcomes").hidden = body.rows.length === 0;
}

$("test-all-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const fromFile = document.querySelector("input[name=test-source]:checked").value === "file";
  const file = $("test-file").files[0];
  if (fromFile && !file) { $("test-all-state").textContent = "Choose the labeled file first."; return; }
  $("test-all-button").disabled = true;
  $("test-all-progress").hidden = false;
  $("test-all-outcomes").hidden = true;
  $("test-all-report").hidden = true;
  $("test-all-state").dataset.state = "running";
  clear($("test-all-counts"));
  try {
    let job;
    if (fromFile) {
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("client_filter", $("test-all-client").value);
      job = await api("POST", "jobs/test-all/upload", form);
    } else {
      job = await api("POST", "jobs/test-all", {topic: $("test-all-topic").value, client_filter: $("test-all-client").value});
    }
    const done = await followJob(job, (status) => {
      $("test-all-progress").value = status.progress;
      $("test-all-state").textContent = status.total ? `${status.done} of ${status.total} questions` : status.state;
    });
    if (done.state !== "succeeded") { $("test-all-state").textContent = done.error; return; }
    const c = done.counts;
    $("test-all-state").textContent = `${c.correct} of ${c.asked} questions find their own item` +
      (c.ambiguous ? `, ${c.ambiguous} are shared by several items` : "") + ` (${done.seconds} s)`;
    showTestAll(done);
    await showReportLink(done);
    await loadTestAllHistory();
    $("test-all-state").dataset.state = "succeeded";
  } catch (error) {
    $("test-all-state").textContent = error.message;
  } finally {
    $("test-all-button").disabled = false;
    $("test-all-progress").hidden = true;
  }
});

async function showReportLink(done) {
  const link = $("test-all-report");
  if (link.href && link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = await download(done.result.report || `jobs/${done.id}/report`);
  link.download = `test-all-${done.id}.csv`;
  link.hidden = false;
}

async function loadTestAllHistory() {
  const body = $("test-all-history").tBodies[0];
  try {
    const jobs = (await api("GET", "jobs?kind=test_all&limit=20")).jobs;
    clear(body);
    for (const job of jobs.filter((j) => j.state === "succeeded")) {
      const c = job.counts;
      const show = el("button", {type: "button", class: "link"}, "show");
      show.addEventListener("click", async () => {
        const full = await api("GET", `jobs/${encodeURIComponent(job.id)}`);
        showTestAll(full);
        await showReportLink(full);
        $("test-all-state").textContent = `Run of ${new Date(full.created).toLocaleString()}`;
      });
      body.append(el("tr", {}, el("td", {}, new Date(job.created).toLocaleString()), el("td", {}, job.filename),
        el("td", {}, c.asked), el("td", {}, c.correct), el("td", {}, c.ambiguous ?? "–"), el("td", {}, c.missed),
        el("td", {}, percent(job.result.accuracy)), el("td", {}, show)));
    }
    if (!body.rows.length) body.append(el("tr", {}, el("td", {colspan: 8, class: "muted"}, "No runs yet.")));
  } catch (error) {
    clear(body).append(el("tr", {}, el("td", {colspan: 8}, errorView(error))));
  }
}

let recommended = null;

$("tune-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("tune-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("max_wrong_rate", String(Number($("tune-target").value) / 100));
  $("tune-button").disabled = true;
  $("tune-progress").hidden = false;
  $("tune-result").hidden = true;
  clear($("tune-applied"));
  try {
    const job = await api("POST", "jobs/tune", form);
    const done = await followJob(job, (status) => {
      $("tune-progress").value = status.progress;
      $("tune-state").textContent = status.total ? `${Math.round(status.progress * 100)}%: searching each turn, then replaying settings` : status.state;
    });
    if (done.state !== "succeeded") { $("tune-state").textContent = done.error; return; }
    const r = done.result;
    $("tune-state").textContent = `${r.frontier.length ? done.counts.settings_tried : 0} settings tried on ` +
      `${done.counts.turns} turns in ${done.seconds} s. Recommended: ${percent(r.recommended.overall)} handled right, ` +
      `${percent(r.recommended.wrong_rate)} wrong (now ${percent(r.current.overall)} and ${percent(r.current.wrong_rate)}).`;
    $("tune-state").dataset.state = "succeeded";
    Charts.tradeoff($("tune-chart"), r.chart);
    const body = clear($("tune-table").tBodies[0]);
    recommended = r.recommended.settings;
    for (const [name, value] of Object.entries(recommended)) {
      const now = r.current.settings[name];
      body.append(el("tr", {class: String(now) === String(value) ? "" : "changed"},
                     el("td", {}, el("code", {}, name)), el("td", {}, now), el("td", {}, value)));
    }
    $("tune-result").hidden = false;
  } catch (error) {
    $("tune-state").textContent = error.message;
  } finally {
    $("tune-button").disabled = false;
    $("tune-progress").hidden = true;
  }
});

$("tune-apply").addEventListener("click", async () => {
  if (!recommended) return;
  try {
    const result = await api("PUT", "settings", recommended);
    clear($("tune-applied")).append(el("span", {class: "ok"}, `Applied ${result.updated.length} settings; the next turn uses them.`));
  } catch (error) {
    clear($("tune-applied")).append(errorView(error));
  }
});

// --- import and export ---------------------------------------------------------------------

$("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("import-file").files[0];
  if (!file) return;
  if ($("replace-all").checked &&
      !confirm(`Replace every item with the items of ${file.name}? Items not in the file are deleted.`)) return;
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("replace_all", $("replace-all").checked ? "true" : "false");
  $("import-job").hidden = false;
  $("import-button").disabled = true;
  clear($("import-error"));
  clear($("import-warnings"));
  $("import-problems").hidden = true;
  try {
    const job = await api("POST", "jobs/import", form);
    const done = await followJob(job, (status) => {
      $("import-progress").value = status.progress;
      $("import-state").textContent = `${status.filename}: ${status.state}` +
        (status.total ? ` (${status.done} of ${status.total})` : "");
      $("import-state").dataset.state = status.state;
      countsView($("import-counts"), status.counts);
    });
    if (done.state === "failed") $("import-error").append(errorView({message: done.error}));
    else $("import-state").textContent += ` in ${done.seconds} s`;
    const body = clear($("import-problems").tBodies[0]);
    for (const p of done.problems) {
      body.append(el("tr", {}, el("td", {}, p.line ? `line ${p.line}` : `item ${p.position}`),
                  el("td", {}, p.qid === null ? "–" : (p.qid === "" ? '""' : p.qid)), el("td", {}, fieldLabel(p.field) || p.field),
                  el("td", {}, p.message)));
    }
    if (done.problem_count > done.problems.length) {
      body.append(el("tr", {}, el("td", {colspan: 4, class: "muted"},
        `…and ${done.problem_count - done.problems.length} more problems`)));
    }
    $("import-problems").hidden = done.problems.length === 0;
    for (const warning of done.warnings) $("import-warnings").append(el("li", {}, warning));
    refreshCount();
    loadFacets();
  } catch (error) {
    $("import-error").append(errorView(error));
  } finally {
    $("import-button").disabled = false;
  }
});

$("export-button").addEventListener("click", async () => {
  $("export-link").hidden = true;
  try {
    const job = await api("POST", "jobs/export", {qid_filter: $("export-filter").value});
    const done = await followJob(job, (status) => { $("export-state").textContent = status.state; });
    if (done.state !== "succeeded") { $("export-state").textContent = done.error; return; }
    const link = $("export-link");
    if (link.href && link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = await download(done.result.download);
    link.hidden = false;
    $("export-state").textContent = `${done.result.items} items exported`;
  } catch (error) {
    $("export-state").textContent = error.message;
  }
});

/** Download an admin file and point a link at it (freeing the file it pointed at before). */
async function offer(link, path) {
  if (link.href && link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = await download(path);
  link.hidden = false;
}

$("settings-export-button").addEventListener("click", async () => {
  try {
    await offer($("settings-export-link"), "settings/export");
    $("settings-transfer-state").textContent = "";
  } catch (error) {
    $("settings-transfer-state").textContent = error.message;
  }
});

$("settings-import-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const state = $("settings-transfer-state");
  try {
    let values;
    try { values = JSON.parse(await file.text()); } catch (error) {
      state.textContent = `${file.name} is not JSON: ${error.message}`;
      return;
    }
    const result = await api("POST", "settings/import", values);
    state.textContent = [`${result.imported.length} settings imported`, ...result.warnings].join(". ");
  } catch (error) {
    state.textContent = error.message;
  } finally {
    event.target.value = "";
  }
});

// The contact flow is generated by the deployed stack (Amazon Connect is an AWS service).
$("connect-section").hidden = CONFIG.auth !== "cognito";
$("connect-flow-button").addEventListener("click", async () => {
  try {
    await offer($("connect-flow-link"), "connect/contact-flow");
    $("connect-flow-state").textContent = "";
  } catch (error) {
    $("connect-flow-state").textContent = error.message;
  }
});

// --- analytics -----------------------------------------------------------------------------

function card(name, value, caption, kind) {
  return el("div", {class: `stat${kind ? ` ${kind}` : ""}`, dataset: {stat: name}},
    el("div", {class: "stat-value"}, value), el("div", {class: "stat-name"}, name),
    caption ? el("div", {class: "stat-caption"}, caption) : null);
}

function createItemFrom(question) {
  openEditor({qid: "", q: [question], a: "", type: "qna"});
}

/** Open item `qid` in the editor with `question` added to its questions (saved on Save). */
async function addQuestionTo(qid, question) {
  try {
    const found = await api("GET", `items/${encodeURIComponent(qid)}`);
    if (found.type === "text") {  // a passage has no questions: a QnA item answers it
      createItemFrom(question);
      setStatus(`Answer it from the passage ${qid}, then save.`);
      return;
    }
    const questions = Array.isArray(found.q) ? found.q : [];
    if (!questions.some((q) => q.trim().toLowerCase() === question.trim().toLowerCase())) {
      questions.push(question);
    }
    await openEditor({...found, q: questions});
    setStatus("Question added: save the item to keep it.");
  } catch (error) {
    $("analytics-error").append(errorView(error));
  }
}

async function loadAnalytics() {
  clear($("analytics-error"));
  let data;
  try {
    data = await api("GET", `analytics?days=${$("analytics-days").value}`);
  } catch (error) {
    $("analytics-error").append(errorView(error));
    return;
  }
  if (data.truncated) {
    $("analytics-error").append(el("p", {class: "notice", role: "status"},
      "These figures leave out the oldest records: the period held more than one read returns. " +
      "Choose fewer days for complete figures."));
  }
  const t = data.totals;
  const fb = data.feedback;
  clear($("analytics-cards")).append(
    // opened: the chat page's welcome turns, which are not questions
    card("questions", t.asked, `${t.sessions} conversations; the chat opened ` +
         `${t.opened} time${t.opened === 1 ? "" : "s"}`),
    card("answered", percent(t.answer_rate), `${t.answered} answered`, "good"),
    card("unanswered", t.unanswered, "got the no-answer reply", t.unanswered ? "bad" : ""),
    card("feedback", fb.up + fb.down ? percent(fb.up / (fb.up + fb.down)) : "–",
         `positive: ${fb.up} thumbs up, ${fb.down} down`, fb.down > fb.up ? "bad" : ""),
    card("LLM calls", data.llm.calls, data.llm.turns ? `median ${data.llm.median_ms} ms, p95 ${data.llm.p95_ms} ms` : "none"),
    card("latency", data.latency_ms.median === null ? "–" : `${data.latency_ms.median} ms`,
         data.latency_ms.p95 === null ? "" : `median; p95 ${data.latency_ms.p95} ms`));
  Object.assign($("analytics-cards").dataset, {asked: t.asked, opened: t.opened});
  Charts.stackedBars($("chart-days"), data.per_day.map((d) => ({label: d.date.slice(5), answered: d.answered, unanswered: d.unanswered})));
  Charts.bars($("chart-sources"), Object.entries(data.sources).map(([label, value]) => ({
    label, value, color: label === "no_hits" ? "#d91515" : undefined})));

  const top = clear($("top-questions").tBodies[0]);
  for (const row of data.top_questions) {
    top.append(el("tr", {}, el("td", {}, row.question), el("td", {}, row.count),
      el("td", {}, row.qid ? el("button", {type: "button", class: "link", onclick: () => openItem(row.qid)}, row.qid)
                           : el("span", {class: "error"}, "no answer"))));
  }
  const missing = clear($("top-unanswered").tBodies[0]);
  for (const row of data.top_unanswered) {
    missing.append(el("tr", {dataset: {question: row.question}}, el("td", {}, row.question), el("td", {}, row.count),
      el("td", {}, el("button", {type: "button", class: "secondary small create-item",
                                 onclick: () => createItemFrom(row.question)}, "Create an item from this"))));
  }
  for (const [body, rows] of [[top, data.top_questions], [missing, data.top_unanswered]]) {
    if (!rows.length) body.append(el("tr", {}, el("td", {colspan: 3, class: "muted"}, "Nothing yet.")));
  }
  // A question answered only once its asker tapped a "did you mean" button: adding it to the
  // item chosen lets the next person get the answer straight away.
  const sg = data.suggestions || {offered: 0, taken: 0, taken_questions: []};
  $("suggestions-taken-note").textContent = sg.offered
    ? `${sg.offered} unanswered question${sg.offered === 1 ? "" : "s"} got "did you mean" buttons; ` +
      `${sg.taken} time${sg.taken === 1 ? "" : "s"} the asker took one.`
    : "No question got \"did you mean\" buttons in this period.";
  const taken = clear($("suggestions-taken").tBodies[0]);
  for (const row of sg.taken_questions) {
    taken.append(el("tr", {dataset: {question: row.question, qid: row.qid}},
      el("td", {}, row.question),
      el("td", {}, el("button", {type: "button", class: "link", onclick: () => openItem(row.qid)}, row.qid)),
      el("td", {}, row.count),
      el("td", {}, el("button", {type: "button", class: "secondary small add-question",
                                 onclick: () => addQuestionTo(row.qid, row.question)}, "Add this question to the item"))));
  }
  if (!taken.rows.length) taken.append(el("tr", {}, el("td", {colspan: 4, class: "muted"}, "Nothing yet.")));
  const perItem = clear($("feedback-items").tBodies[0]);
  for (const row of fb.items) {
    perItem.append(el("tr", {}, el("td", {}, row.qid ? el("button", {type: "button", class: "link", onclick: () => openItem(row.qid)}, row.qid) : "–"),
                       el("td", {}, row.up), el("td", {class: row.down ? "error" : ""}, row.down)));
  }
  const recent = clear($("feedback-table").tBodies[0]);
  for (const f of fb.recent) {
    recent.append(el("tr", {}, el("td", {class: "muted"}, new Date(f.datetime).toLocaleString()),
                     el("td", {}, el("img", {class: "thumbs-icon", src: `static/thumb-${f.verdict}.svg`, alt: `thumbs ${f.verdict}`})),
                     el("td", {}, f.qid), el("td", {}, f.question)));
  }
  for (const body of [perItem, recent]) {
    if (!body.rows.length) body.append(el("tr", {}, el("td", {colspan: 4, class: "muted"}, "No feedback yet.")));
  }
}

$("refresh-analytics").addEventListener("click", loadAnalytics);
$("analytics-days").addEventListener("change", loadAnalytics);

// --- settings ------------------------------------------------------------------------------

let settings = [];

function settingInput(setting) {
  const id = `setting-${setting.name}`;
  if (setting.choices.length) {
    return el("select", {id, dataset: {name: setting.name}},
      setting.choices.map((c) => el("option", {value: c, selected: c === setting.value}, c)));
  }
  if (setting.type === "bool") {
    return el("select", {id, dataset: {name: setting.name}},
      ["true", "false"].map((c) => el("option", {value: c, selected: c === setting.value.toLowerCase()}, c)));
  }
  if (setting.value.length > 60 || setting.default.length > 60 || setting.type === "json") {
    const area = el("textarea", {id, rows: 4, spellcheck: "false", dataset: {name: setting.name}});
    area.value = setting.value;
    return area;
  }
  return el("input", {id, value: setting.value, dataset: {name: setting.name}});
}

function renderSettings() {
  const list = clear($("settings-list"));
  const filter = $("settings-filter").value.trim().toLowerCase();
  let category = null;
  for (const setting of settings) {
    if (filter && !`${setting.name} ${setting.description}`.toLowerCase().includes(filter)) continue;
    if (setting.category !== category) {
      category = setting.category;
      list.append(el("h3", {}, category));
    }
    const reset = el("button", {type: "button", class: "link", disabled: !setting.overridden,
                                dataset: {reset: setting.name}}, "reset");
    reset.addEventListener("click", () => resetSettings([setting.name]));
    const range = setting.minimum !== null ? ` (${setting.minimum} to ${setting.maximum})` : "";
    list.append(el("div", {class: `setting${setting.overridden ? " overridden" : ""}`, dataset: {setting: setting.name}},
      el("label", {for: `setting-${setting.name}`, class: "setting-name"}, setting.name),
      settingInput(setting),
      el("div", {class: "setting-help muted"},
         `${setting.description.replace(/\.$/, "")}. Default: ${setting.default || "(empty)"}${range}. `,
         setting.overridden ? el("strong", {}, "Changed. ") : null, reset),
      el("div", {class: "field-error setting-error"})));
  }
}

async function loadSettings() {
  try {
    settings = (await api("GET", "settings")).settings;
    renderSettings();
  } catch (error) {
    clear($("settings-status")).append(errorView(error));
  }
}

function settingsMessage(node) {
  clear($("settings-status")).append(node);
}

$("settings-filter").addEventListener("input", renderSettings);

$("save-settings").addEventListener("click", async () => {
  const changes = {};
  for (const input of $("settings-list").querySelectorAll("[data-name]")) {
    const setting = settings.find((s) => s.name === input.dataset.name);
    if (setting && input.value !== setting.value) changes[setting.name] = input.value;
  }
  for (const node of $("settings-list").querySelectorAll(".setting-error")) node.textContent = "";
  if (!Object.keys(changes).length) { settingsMessage(el("p", {class: "muted"}, "Nothing changed.")); return; }
  try {
    const result = await api("PUT", "settings", changes);
    await loadSettings();
    settingsMessage(el("p", {class: "ok"}, `Saved ${result.updated.join(", ")}. The next turn uses them.`));
  } catch (error) {
    // Each problem goes next to its setting; the summary says how many, once.
    let placed = 0;
    for (const problem of error.problems) {
      const name = String(problem.field || "").replace(/^body\.?/, "");
      const slot = $("settings-list").querySelector(`[data-setting="${CSS.escape(name)}"] .setting-error`);
      if (slot) { slot.textContent = problem.message.replace(new RegExp(`^${name}: `), ""); placed++; }
    }
    settingsMessage(placed === error.problems.length && placed
      ? el("p", {class: "error", role: "alert"}, `Not saved: ${placed === 1 ? "1 setting needs" : `${placed} settings need`} a fix (shown below it).`)
      : errorView({...error, summary: "Not saved:"}));
  }
});

async function resetSettings(names) {
  try {
    await api("POST", "settings/reset", names ? {names} : {});
    await loadSettings();
    settingsMessage(el("p", {class: "ok"}, names ? `Reset ${names.join(", ")} to the default.` : "Every setting is back to its default."));
  } catch (error) {
    settingsMessage(errorView(error));
  }
}

$("reset-all-settings").addEventListener("click", () => {
  if (confirm("Reset every setting to its default?")) resetSettings(null);
});

// --- start ---------------------------------------------------------------------------------

async function start() {
  if (CONFIG.auth === "cognito" && !window.QNABOT_AUTH) {
    try { await loadScript("static/auth-cognito.js"); } catch (error) { showLogin(error.message); return; }
  }
  if (!window.QNABOT_AUTH && !sessionStorage.getItem(TOKEN_KEY)) { showLogin(); return; }
  try {
    await api("GET", "info");
  } catch (error) {
    if (error.status !== 401) showLogin(error.message);
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  try { itemTypes = (await api("GET", "schemas")).types; } catch (error) { /* qna and text */ }
  refreshCount();
  loadFacets();
  openTab("items");
}

start();
