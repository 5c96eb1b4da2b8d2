// The chat page: sends each question to POST /chat (a Lex V2 turn through the fulfillment
// handler) and shows the answer, its response card and thumbs up/down. The session id and the
// transcript live in sessionStorage, so a reload keeps the conversation.
"use strict";

const SESSION_KEY = "qnabot-chat-session";
const TRANSCRIPT_KEY = "qnabot-chat-transcript";

const transcript = document.getElementById("transcript");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const sendButton = document.getElementById("send");

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
  const turns = savedTurns();
  turns.push(turn);
  sessionStorage.setItem(TRANSCRIPT_KEY, JSON.stringify(turns.slice(-100)));
}

function scrollDown() {
  transcript.lastElementChild && transcript.lastElementChild.scrollIntoView({block: "end"});
}

function showQuestion(text) {
  transcript.append(el("li", {class: "turn user"}, el("div", {class: "bubble"}, text)));
  scrollDown();
}

function feedbackButtons(turn) {
  const status = el("span", {class: "feedback-status"});
  const send = async (verdict, button) => {
    try {
      await callApi("POST", "/feedback", {
        session_id: sessionId(), qid: turn.display.qid || "", question: turn.question.slice(0, 1024),
        verdict, answer: (turn.display.text || "").slice(0, 8000),
      });
      for (const b of button.parentElement.querySelectorAll("button")) b.disabled = true;
      button.classList.add("chosen");
      status.textContent = "Thanks for the feedback";
    } catch (error) {
      status.textContent = `Feedback not saved: ${error.message}`;
    }
  };
  const up = el("button", {type: "button", class: "thumb", title: "Good answer", "aria-label": "Thumbs up",
                           "data-verdict": "up"}, el("img", {src: "/static/thumb-up.svg", alt: ""}));
  const down = el("button", {type: "button", class: "thumb", title: "Bad answer", "aria-label": "Thumbs down",
                             "data-verdict": "down"}, el("img", {src: "/static/thumb-down.svg", alt: ""}));
  up.addEventListener("click", () => send("up", up));
  down.addEventListener("click", () => send("down", down));
  return el("div", {class: "feedback"}, up, down, status);
}

function cardView(card) {
  if (!card) return null;
  return el("div", {class: "card"},
    card.image_url ? el("img", {src: card.image_url, alt: card.title || "", loading: "lazy",
                                referrerpolicy: "no-referrer"}) : null,
    card.title ? el("div", {class: "card-title"}, card.title) : null,
    card.subtitle ? el("div", {class: "card-subtitle"}, card.subtitle) : null,
    card.buttons.length
      ? el("div", {class: "card-buttons"}, card.buttons.map((b) =>
          el("button", {type: "button", class: "card-button", "data-value": b.value,
                        onclick: () => ask(b.value)}, b.text)))
      : null);
}

function showAnswer(turn) {
  const answer = el("div", {class: "answer"});
  // display.html was sanitized on the server (nh3 allow-list; see content_designer/chat.py).
  answer.innerHTML = turn.display.html;
  const meta = turn.display.qid ? el("div", {class: "meta"}, `qid ${turn.display.qid}`) : null;
  transcript.append(el("li", {class: "turn bot", "data-qid": turn.display.qid || ""},
    el("div", {class: "bubble"}, answer, cardView(turn.display.card), meta, feedbackButtons(turn))));
  scrollDown();
}

function showError(message) {
  transcript.append(el("li", {class: "turn bot"}, el("div", {class: "bubble error", role: "alert"}, message)));
  scrollDown();
}

async function ask(text) {
  text = text.trim();
  if (!text) return;
  showQuestion(text);
  saveTurn({question: text});
  input.value = "";
  sendButton.disabled = true;
  transcript.setAttribute("aria-busy", "true");
  try {
    const response = await callApi("POST", "/chat", {text, session_id: sessionId(), channel: "text"});
    const turn = {question: text, display: response.display};
    showAnswer(turn);
    saveTurn(turn);
  } catch (error) {
    showError(`Sorry, the question could not be sent: ${error.message}`);
  } finally {
    sendButton.disabled = false;
    transcript.removeAttribute("aria-busy");
    input.focus();
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
  input.focus();
});

for (const turn of savedTurns()) {
  if (turn.display) showAnswer(turn); else showQuestion(turn.question);
}
