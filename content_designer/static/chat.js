// The chat page: each question goes through window.QNABOT_TRANSPORT (contract C2: the local
// server's POST chat / chat/stream, or Amazon Lex in AWS) and the answer is shown with its
// response card, feedback buttons and, when asked for, read aloud from its SSML. The session id
// and the transcript live in sessionStorage, so a reload keeps the conversation.
"use strict";

const SESSION_KEY = "qnabot-chat-session";
const TRANSCRIPT_KEY = "qnabot-chat-transcript";
const SPEAK_KEY = "qnabot-chat-speak";
const CONFIG = window.QNABOT_CONFIG || {auth: "token", transport: "local", streaming: false};
//: What the page says first, as QnABot's Lex Web UI does: the greeting item answers it.
const WELCOME_UTTERANCE = CONFIG.welcome || "Hello";
//: Sent with the welcome turn only (Lex V2 requestAttributes, through either transport): the
//: analytics count it as a chat opened, not as a question (fulfillment/metrics.py).
const WELCOME_ATTRIBUTES = {qnabot_welcome: "true"};
const WELCOME_FALLBACK = "Hi! Ask me a question.";
const WELCOME_FALLBACK_HTML = "<p>Hi! Ask me a question.</p>";
//: QnABot's feedback utterances (the Lex Web UI's thumbs phrases), contract C4.
const FEEDBACK = {up: "Thumbs up", down: "Thumbs down"};

const transcript = document.getElementById("transcript");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const sendButton = document.getElementById("send");
const micButton = document.getElementById("mic");
const speakToggle = document.getElementById("speak-toggle");

if (new URLSearchParams(location.search).has("embed")) document.body.classList.add("embedded");

function sessionId() {
  let id = sessionStorage.getItem(SESSION_KEY);
  if (!id) {
    id = randomId();
    sessionStorage.setItem(SESSION_KEY, id);
  }
  return id;
}

function savedTurns() {
  try { return JSON.parse(sessionStorage.getItem(TRANSCRIPT_KEY) || "[]"); } catch (e) { return []; }
}

function saveTurn(turn) {
  const turns = savedTurns().filter((t) => !turn.id || t.id !== turn.id);
  turns.push(turn);
  sessionStorage.setItem(TRANSCRIPT_KEY, JSON.stringify(turns.slice(-100)));
}

function updateTurn(turn) {
  const turns = savedTurns().map((t) => (t.id && t.id === turn.id ? turn : t));
  sessionStorage.setItem(TRANSCRIPT_KEY, JSON.stringify(turns));
}

function scrollDown() {
  transcript.lastElementChild && transcript.lastElementChild.scrollIntoView({block: "end"});
}

function showQuestion(text, kind) {
  transcript.append(el("li", {class: `turn user${kind ? ` ${kind}` : ""}`}, el("div", {class: "bubble"}, text)));
  scrollDown();
}

// --- reading answers aloud -------------------------------------------------------------------

let speakAnswers = localStorage.getItem(SPEAK_KEY) === "true";

function showSpeakToggle() {
  speakToggle.hidden = !("speechSynthesis" in window);
  speakToggle.setAttribute("aria-pressed", String(speakAnswers));
  speakToggle.querySelector("span").textContent = speakAnswers ? "Reading aloud: on" : "Read aloud";
}

speakToggle.addEventListener("click", () => {
  speakAnswers = !speakAnswers;
  localStorage.setItem(SPEAK_KEY, String(speakAnswers));
  if (!speakAnswers && "speechSynthesis" in window) window.speechSynthesis.cancel();
  showSpeakToggle();
});

function readAloud(display) {
  const words = display.ssml ? ssmlToSpeech(display.ssml) : (display.text || "");
  speak(words, navigator.language);
}

// --- answers -------------------------------------------------------------------------------

function feedbackButtons(turn) {
  const status = el("span", {class: "feedback-status"});
  const buttons = [];
  const send = async (verdict, button) => {
    for (const b of buttons) b.disabled = true;
    button.classList.add("chosen");
    turn.feedback = verdict;
    updateTurn(turn);
    await ask(FEEDBACK[verdict], {kind: "feedback"});
    status.textContent = "Thanks for the feedback";
  };
  for (const verdict of ["up", "down"]) {
    const button = el("button", {type: "button", class: "thumb", "data-verdict": verdict,
                                 title: verdict === "up" ? "Good answer" : "Bad answer",
                                 "aria-label": FEEDBACK[verdict]},
                      el("img", {src: `static/thumb-${verdict}.svg`, alt: ""}));
    if (turn.feedback) {
      button.disabled = true;
      if (turn.feedback === verdict) button.classList.add("chosen");
    }
    button.addEventListener("click", () => send(verdict, button));
    buttons.push(button);
  }
  return el("div", {class: "feedback"}, buttons, status);
}

function cardView(card) {
  if (!card) return null;
  const buttons = card.buttons || [];
  return el("div", {class: "card"},
    card.image_url ? el("img", {src: card.image_url, alt: card.title || "", loading: "lazy",
                                referrerpolicy: "no-referrer"}) : null,
    card.title ? el("div", {class: "card-title"}, card.title) : null,
    card.subtitle ? el("div", {class: "card-subtitle"}, card.subtitle) : null,
    buttons.length
      ? el("div", {class: "card-buttons"}, buttons.map((b) =>
          el("button", {type: "button", class: "card-button", "data-value": b.value,
                        onclick: () => ask(b.value, {shown: b.text})}, b.text)))
      : null);
}

function answerBubble(turn) {
  const display = turn.display || {};
  // display.html was sanitized on the server (nh3 allow-list; see content_designer/chat.py)
  // or by the Lex transport's vendored sanitizer.
  const answer = showSanitizedHtml(el("div", {class: "answer"}), display.html || "");
  const meta = display.qid && !turn.welcome ? el("div", {class: "meta"}, `qid ${display.qid}`) : null;
  const judged = !turn.welcome && !turn.kind;
  return el("div", {class: "bubble"}, answer, cardView(display.card), meta,
            judged ? feedbackButtons(turn) : null);
}

/** Show an answer at the end of the transcript, or in place of its pending bubble. */
function showAnswer(turn, pending = null) {
  const item = el("li", {class: `turn bot${turn.welcome ? " welcome" : ""}`,
                         "data-qid": (turn.display && turn.display.qid) || ""}, answerBubble(turn));
  return place(item, pending);
}

function showError(message, pending = null) {
  place(el("li", {class: "turn bot"}, el("div", {class: "bubble error", role: "alert"}, message)),
        pending);
}

function place(item, pending) {
  if (pending) pending.replaceWith(item); else transcript.append(item);
  scrollDown();
  return item;
}

function pendingBubble() {
  const text = el("div", {class: "answer partial"});
  const item = el("li", {class: "turn bot pending", "aria-busy": "true"},
                  el("div", {class: "bubble"}, el("span", {class: "typing", "aria-label": "QnABot is answering"},
                                                  el("span"), el("span"), el("span")), text));
  transcript.append(item);
  scrollDown();
  return {item, onPartial: (soFar) => { text.textContent = soFar; item.classList.add("streaming"); scrollDown(); }};
}

let transportReady = null;

//: The scripts of each transport, loaded in order: Lex needs request signing, markdown
//: rendering and sanitizing (vendored libraries) and the Cognito sign-in before its own script.
const TRANSPORT_SCRIPTS = {
  lex: ["static/vendor-aws4fetch.js", "static/vendor-marked.js", "static/vendor-purify.js",
        "static/auth-cognito.js", "static/lex-transport.js"],
  local: ["static/chat-transport.js"],
};

function transport() {
  const scripts = TRANSPORT_SCRIPTS[CONFIG.transport === "lex" ? "lex" : "local"];
  transportReady = transportReady || (window.QNABOT_TRANSPORT ? Promise.resolve()
    : scripts.reduce((loaded, path) => loaded.then(() => loadScript(path)), Promise.resolve()));
  return transportReady.then(() => window.QNABOT_TRANSPORT);
}

//: Settles when the last turn asked has its answer. Lex takes one turn of a session at a time
//: (a second one in flight gets a ConflictException, and the two could reach the bot in either
//: order), so each turn waits for the one before: a question typed while the welcome turn is
//: still out goes after it.
let lastTurn = Promise.resolve();
let turnsOut = 0;

/** Ask one question. kind: "feedback" or "welcome" (not shown as a question), channel. */
// `shown`: what the transcript shows for a tapped button whose value is a `QID::` reference
// (a "did you mean" passage); any other value is shown as it is sent.
function ask(text, {kind = "", channel = "text", shown = ""} = {}) {
  text = text.trim();
  if (!text) return lastTurn;
  if (kind !== "welcome") showQuestion(shown && /^QID::/i.test(text) ? shown : text, kind);
  input.value = "";
  turnsOut += 1;
  sendButton.disabled = true;
  transcript.setAttribute("aria-busy", "true");
  const pending = pendingBubble();  // placed now, so answers keep the order of the questions
  lastTurn = lastTurn.then(() => exchange(text, {kind, channel, pending}));
  return lastTurn;
}

/** One turn with the bot; the answer (or the error) takes the place of its pending bubble. */
async function exchange(text, {kind, channel, pending}) {
  if (kind !== "welcome") saveTurn({question: text, kind});  // kept in the order sent
  try {
    const send = await transport();
    const response = await send.send(text, {
      sessionId: sessionId(), channel, onPartial: pending.onPartial,
      requestAttributes: kind === "welcome" ? WELCOME_ATTRIBUTES : {}});
    const display = response.display || {};
    if (kind === "welcome" && !display.got_answer) {  // no greeting item: a plain welcome
      Object.assign(display, {html: WELCOME_FALLBACK_HTML, text: WELCOME_FALLBACK,
                              ssml: "", qid: "", card: null});
    }
    const turn = {id: randomId(), question: text, display, welcome: kind === "welcome",
                  kind: kind === "feedback" ? kind : ""};
    showAnswer(turn, pending.item);
    saveTurn(turn);
    if (speakAnswers || channel === "voice") readAloud(display);
  } catch (error) {
    showError(`Sorry, the question could not be sent: ${error.message}`, pending.item);
  } finally {
    turnsOut -= 1;
    if (!turnsOut) {
      sendButton.disabled = false;
      transcript.removeAttribute("aria-busy");
    }
    if (kind !== "welcome") input.focus();
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  ask(input.value);
});

document.getElementById("new-conversation").addEventListener("click", () => {
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(TRANSCRIPT_KEY);
  clear(transcript);
  ask(WELCOME_UTTERANCE, {kind: "welcome"});
  input.focus();
});

// --- voice input -----------------------------------------------------------------------------

function setUpVoice() {
  const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
  if (!Recognition) return;  // the browser cannot listen: the button stays hidden
  micButton.hidden = false;
  let listening = null;
  micButton.addEventListener("click", () => {
    if (listening) { listening.stop(); return; }
    const recognition = new Recognition();
    recognition.lang = navigator.language || "en-US";
    recognition.interimResults = true;
    recognition.maxAlternatives = 1;
    listening = recognition;
    micButton.classList.add("listening");
    micButton.setAttribute("aria-pressed", "true");
    input.placeholder = "Listening…";
    recognition.addEventListener("result", (event) => {
      const result = event.results[event.results.length - 1];
      input.value = result[0].transcript;
      if (result.isFinal) ask(result[0].transcript, {channel: "voice"});
    });
    recognition.addEventListener("end", () => {
      listening = null;
      micButton.classList.remove("listening");
      micButton.setAttribute("aria-pressed", "false");
      input.placeholder = "Ask a question";
    });
    recognition.addEventListener("error", (event) => {
      if (event.error === "not-allowed") showError("The microphone is blocked for this page: allow it in the browser to speak.");
    });
    recognition.start();
  });
}

// --- start -----------------------------------------------------------------------------------

showSpeakToggle();
setUpVoice();
const restored = savedTurns();
for (const turn of restored) {
  if (turn.display) showAnswer(turn); else showQuestion(turn.question, turn.kind);
}
if (!restored.length) ask(WELCOME_UTTERANCE, {kind: "welcome"});
