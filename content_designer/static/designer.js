// The content designer page: items, import/export/test-all jobs, the TEST tab, settings and
// feedback, all through the admin API with the bearer token. Every value from the server is
// put into the page with textContent (el()), never as HTML.
"use strict";

const TOKEN_KEY = "qnabot-admin-token";
const PAGE_SIZE = 50;
const POLL_MS = 250;
// A running job whose status stays the same this long is stuck (its status cannot be saved, or
// the server stopped): stop polling and say so rather than spin for ever.
const POLL_STALL_MS = 5 * 60 * 1000;
const STAGE_ROWS = 8;  // candidates shown per stage in the TEST tab
const $ = (id) => document.getElementById(id);

// --- token ---------------------------------------------------------------------------------

(function takeTokenFromUrl() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
  }
})();

const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

async function api(method, path, body) {
  try {
    return await callApi(method, path, body, token());
  } catch (error) {
    if (error.status === 401) showLogin("The token was refused; paste the current one.");
    throw error;
  }
}

function showLogin(message) {
  $("app").hidden = true;
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
  showLogin();
});

// --- tabs ----------------------------------------------------------------------------------

const loaders = {items: loadItems, test: () => {}, import: () => {}, settings: loadSettings, feedback: loadFeedback};

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
    const info = await api("GET", "/info");
    $("kb-count").textContent = `${info.items} items`;
    $("kb-count").dataset.count = info.items;
  } catch (error) { /* shown elsewhere */ }
}

// --- items ---------------------------------------------------------------------------------

let offset = 0;
let selected = new Set();
let editing = null;  // qid of the item in the editor, or null for a new one

function summary(item) {
  if (item.type === "text") return (item.passage || "").slice(0, 160);
  return (item.q || []).join(" · ").slice(0, 160);
}

async function loadItems() {
  const params = new URLSearchParams({qid: $("qid-filter").value, prefix: $("qid-prefix").checked,
                                      offset, limit: PAGE_SIZE});
  const body = $("items-table").tBodies[0];
  try {
    const page = await api("GET", `/items?${params}`);
    clear(body);
    selected = new Set();
    $("select-all").checked = false;
    $("delete-selected").disabled = true;
    for (const item of page.items) {
      const box = el("input", {type: "checkbox", "aria-label": `Select ${item.qid}`});
      box.addEventListener("change", () => {
        box.checked ? selected.add(item.qid) : selected.delete(item.qid);
        $("delete-selected").disabled = selected.size === 0;
      });
      body.append(el("tr", {dataset: {qid: item.qid}},
        el("td", {}, box),
        el("td", {}, el("button", {type: "button", class: "link", onclick: () => openEditor(item)}, item.qid)),
        el("td", {}, item.type || "qna"),
        el("td", {}, summary(item)),
        el("td", {}, item.t || "")));
    }
    if (!page.items.length) body.append(el("tr", {}, el("td", {colspan: 5, class: "muted"}, "No items match.")));
    const last = Math.min(offset + page.items.length, page.total);
    $("page-info").textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "0 items";
    $("prev-page").disabled = offset === 0;
    $("next-page").disabled = last >= page.total;
  } catch (error) {
    clear(body).append(el("tr", {}, el("td", {colspan: 5}, errorView(error))));
  }
}

$("item-search").addEventListener("submit", (event) => { event.preventDefault(); offset = 0; loadItems(); });
$("prev-page").addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); loadItems(); });
$("next-page").addEventListener("click", () => { offset += PAGE_SIZE; loadItems(); });
$("select-all").addEventListener("change", () => {
  for (const box of $("items-table").tBodies[0].querySelectorAll("input[type=checkbox]")) {
    box.checked = $("select-all").checked;
    box.dispatchEvent(new Event("change"));
  }
});

$("delete-selected").addEventListener("click", async () => {
  if (!confirm(`Delete ${selected.size} item(s)?`)) return;
  try {
    await api("POST", "/items/delete", {qids: Array.from(selected)});
    await loadItems();
    refreshCount();
  } catch (error) { alert(error.message); }
});

function openEditor(item) {
  editing = item ? item.qid : null;
  $("editor").hidden = false;
  $("editor-title").textContent = item ? `Item ${item.qid}` : "New item";
  $("delete-item").hidden = !item;
  $("item-json").value = JSON.stringify(item || {qid: "", q: [""], a: ""}, null, 2);
  clear($("editor-errors"));
  $("editor-status").textContent = "";
  $("item-json").focus();
}

$("new-item").addEventListener("click", () => openEditor(null));
$("close-editor").addEventListener("click", () => { $("editor").hidden = true; });

$("save-item").addEventListener("click", async () => {
  clear($("editor-errors"));
  let item;
  try {
    item = JSON.parse($("item-json").value);
  } catch (error) {
    $("editor-errors").append(errorView({message: `Not valid JSON: ${error.message}`}));
    return;
  }
  const qid = (item && item.qid) || editing || "";
  if (!qid) {
    $("editor-errors").append(errorView({message: "The item needs a qid."}));
    return;
  }
  try {
    const saved = await api("PUT", `/items/${encodeURIComponent(qid)}`, item);
    editing = saved.qid;
    $("editor-title").textContent = `Item ${saved.qid}`;
    $("delete-item").hidden = false;
    $("editor-status").textContent = "Saved.";
    loadItems();
    refreshCount();
  } catch (error) {
    $("editor-errors").append(errorView(error));
  }
});

$("delete-item").addEventListener("click", async () => {
  if (!editing || !confirm(`Delete item ${editing}?`)) return;
  try {
    await api("DELETE", `/items/${encodeURIComponent(editing)}`);
    $("editor").hidden = true;
    loadItems();
    refreshCount();
  } catch (error) {
    $("editor-errors").append(errorView(error));
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
    const next = await api("GET", `/jobs/${encodeURIComponent(job.id)}`);
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
    const job = await api("POST", "/jobs/import", form);
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
                  el("td", {}, p.qid === null ? "–" : (p.qid === "" ? '""' : p.qid)), el("td", {}, p.field), el("td", {}, p.message)));
    }
    if (done.problem_count > done.problems.length) {
      body.append(el("tr", {}, el("td", {colspan: 4, class: "muted"},
        `…and ${done.problem_count - done.problems.length} more problems`)));
    }
    $("import-problems").hidden = done.problems.length === 0;
    for (const warning of done.warnings) $("import-warnings").append(el("li", {}, warning));
    refreshCount();
  } catch (error) {
    $("import-error").append(errorView(error));
  } finally {
    $("import-button").disabled = false;
  }
});

$("export-button").addEventListener("click", async () => {
  $("export-link").hidden = true;
  try {
    const job = await api("POST", "/jobs/export", {qid_filter: $("export-filter").value});
    const done = await followJob(job, (status) => { $("export-state").textContent = status.state; });
    if (done.state !== "succeeded") { $("export-state").textContent = done.error; return; }
    // The download needs the token, so fetch it and hand the browser a local object URL.
    const response = await fetch(done.result.download, {headers: {Authorization: `Bearer ${token()}`}});
    const blob = await response.blob();
    const link = $("export-link");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.hidden = false;
    $("export-state").textContent = `${done.result.items} items exported`;
  } catch (error) {
    $("export-state").textContent = error.message;
  }
});

$("test-all-button").addEventListener("click", async () => {
  $("test-all-button").disabled = true;
  $("test-all-progress").hidden = false;
  $("test-all-misses").hidden = true;
  try {
    const job = await api("POST", "/jobs/test-all");
    const done = await followJob(job, (status) => {
      $("test-all-progress").value = status.progress;
      $("test-all-state").textContent = status.total ? `${status.done} of ${status.total} questions` : status.state;
    });
    if (done.state !== "succeeded") { $("test-all-state").textContent = done.error; return; }
    const c = done.counts;
    $("test-all-state").textContent =
      `${c.correct} of ${c.asked} questions find their own item (${(done.result.accuracy * 100).toFixed(1)}%)`;
    const body = clear($("test-all-misses").tBodies[0]);
    for (const o of done.result.outcomes.filter((o) => !o.ok)) {
      body.append(el("tr", {}, el("td", {}, o.question), el("td", {}, o.expected_qid),
                  el("td", {}, o.found_qid || "no answer"), el("td", {}, o.score === null ? "" : o.score.toFixed(3))));
    }
    $("test-all-misses").hidden = body.rows.length === 0;
  } catch (error) {
    $("test-all-state").textContent = error.message;
  } finally {
    $("test-all-button").disabled = false;
  }
});

// --- test ----------------------------------------------------------------------------------

$("test-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = clear($("test-results").tBodies[0]);
  $("test-summary").textContent = "";
  try {
    const client = $("test-client").value.trim();
    const result = await api("POST", "/test", {question: $("test-question").value,
      topic: $("test-topic").value.trim(), client_filter: client || null, all_stages: true});
    const best = result.best;
    $("test-summary").textContent = (best ? `Answer: ${best.qid} (${best.stage}, score ${best.score})`
      : "No candidate passes its threshold: the bot would answer with no_hits.") +
      ` · mode ${result.mode}` + (result.degraded ? ` · ${result.degraded}` : "");
    $("test-summary").dataset.best = best ? best.qid : "";
    // One group per stage, in cascade order, each with its best candidates first.
    const stages = [...new Set(result.candidates.map((hit) => hit.stage))];
    for (const stage of stages) {
      const hits = result.candidates.filter((hit) => hit.stage === stage);
      const passing = hits.filter((hit) => hit.passed).length;
      body.append(el("tr", {class: "stage-row"}, el("th", {colspan: 10},
        `${stage}: ${hits.length} candidates, ${passing} at or above the threshold ${hits[0].threshold}`)));
      hits.slice(0, STAGE_ROWS).forEach((hit, index) => {
        const isBest = best && hit.qid === best.qid && hit.stage === best.stage;
        body.append(el("tr", {class: `${hit.passed ? "passed" : ""}${isBest ? " best" : ""}`,
                              dataset: {qid: hit.qid, stage: hit.stage}},
          el("td", {}, index + 1), el("td", {}, hit.qid), el("td", {}, hit.stage),
          el("td", {}, hit.score.toFixed(3)), el("td", {}, hit.vector_score.toFixed(3)),
          el("td", {}, hit.keyword_score.toFixed(3)), el("td", {}, hit.topic_boost.toFixed(3)),
          el("td", {}, hit.threshold), el("td", {}, hit.passed ? "yes" : "no"),
          el("td", {class: "matched"}, hit.matched)));
      });
    }
    if (!result.candidates.length) body.append(el("tr", {}, el("td", {colspan: 10, class: "muted"}, "No candidates.")));
  } catch (error) {
    body.append(el("tr", {}, el("td", {colspan: 10}, errorView(error))));
  }
});

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
         setting.overridden ? el("strong", {}, "Changed. ") : null, reset)));
  }
}

async function loadSettings() {
  try {
    settings = (await api("GET", "/settings")).settings;
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
  if (!Object.keys(changes).length) { settingsMessage(el("p", {class: "muted"}, "Nothing changed.")); return; }
  try {
    const result = await api("PUT", "/settings", changes);
    await loadSettings();
    settingsMessage(el("p", {class: "ok"}, `Saved ${result.updated.join(", ")}. The next turn uses them.`));
  } catch (error) {
    settingsMessage(errorView(error));
  }
});

async function resetSettings(names) {
  try {
    await api("POST", "/settings/reset", names ? {names} : {});
    await loadSettings();
    settingsMessage(el("p", {class: "ok"}, names ? `Reset ${names.join(", ")} to the default.` : "Every setting is back to its default."));
  } catch (error) {
    settingsMessage(errorView(error));
  }
}

$("reset-all-settings").addEventListener("click", () => {
  if (confirm("Reset every setting to its default?")) resetSettings(null);
});

// --- feedback ------------------------------------------------------------------------------

async function loadFeedback() {
  const verdict = $("feedback-verdict").value;
  const body = clear($("feedback-table").tBodies[0]);
  try {
    const page = await api("GET", `/feedback?limit=200${verdict ? `&verdict=${verdict}` : ""}`);
    $("feedback-total").textContent = `${page.total} in all`;
    for (const f of page.feedback) {
      body.append(el("tr", {}, el("td", {}, f.time), el("td", {}, f.verdict === "up" ? "thumbs up" : "thumbs down"),
                  el("td", {}, f.qid), el("td", {}, f.question), el("td", {class: "muted"}, f.session_id)));
    }
  } catch (error) {
    body.append(el("tr", {}, el("td", {colspan: 5}, errorView(error))));
  }
}

$("refresh-feedback").addEventListener("click", loadFeedback);
$("feedback-verdict").addEventListener("change", loadFeedback);

// --- start ---------------------------------------------------------------------------------

async function start() {
  if (!token()) { showLogin(); return; }
  try {
    await api("GET", "/info");
  } catch (error) {
    if (error.status !== 401) showLogin(error.message);
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  refreshCount();
  openTab("items");
}

start();
