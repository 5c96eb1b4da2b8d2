// The local chat transport (contract C2): window.QNABOT_TRANSPORT.send(text, options) returns
// a Promise of the reply that POST chat returns (Lex V2 messages, sessionState, display).
// When window.QNABOT_CONFIG.streaming is true it asks POST chat/stream (server-sent events:
// "partial" events with the answer so far, then one "final" event with the whole reply) and
// calls options.onPartial(textSoFar) as the answer grows; on a 404, a network failure or an
// "error" event before the final reply, it asks POST chat instead. Voice never streams.
// options.requestAttributes go with that turn only (Lex V2 requestAttributes).
"use strict";

(function () {

  async function postJson(path, body) {
    const response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                        body: JSON.stringify(body)});
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = {error: text}; }
    if (!response.ok) {
      const error = new Error((data && data.error) || `HTTP ${response.status}`);
      error.status = response.status;
      error.problems = (data && data.problems) || [];
      throw error;
    }
    return data;
  }

  /** Split a server-sent events stream into {event, data} records, calling onEvent for each. */
  function eventParser(onEvent) {
    let buffer = "";
    return (chunk, last) => {
      buffer += chunk;
      const records = buffer.split(/\r?\n\r?\n/);
      buffer = last ? "" : records.pop();
      for (const record of records) {
        let event = "message";
        const data = [];
        for (const line of record.split(/\r?\n/)) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(event, data.join("\n"));
      }
    };
  }

  /** The reply through chat/stream; rejects (so the caller falls back) on any failure. */
  async function stream(body, onPartial) {
    const response = await fetch("chat/stream", {
      method: "POST", headers: {"Content-Type": "application/json", Accept: "text/event-stream"},
      body: JSON.stringify(body)});
    if (!response.ok || !response.body ||
        !(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
      throw new Error(`chat/stream answered ${response.status}`);
    }
    let final = null;
    let failure = null;
    const feed = eventParser((event, data) => {
      let value;
      try { value = JSON.parse(data); } catch (e) { return; }
      if (event === "partial" && value && typeof value.text === "string") {
        if (onPartial) onPartial(value.text);
      } else if (event === "final") {
        final = value;
      } else if (event === "error") {
        failure = new Error((value && value.error) || "the answer could not be generated");
      }
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const {done, value} = await reader.read();
      feed(done ? decoder.decode() : decoder.decode(value, {stream: true}), done);
      if (done || final || failure) break;
    }
    if (final) return final;
    throw failure || new Error("the stream ended without an answer");
  }

  async function send(text, options) {
    const {sessionId, channel = "text", onPartial, requestAttributes = {}} = options || {};
    const body = {text, session_id: sessionId, channel, request_attributes: requestAttributes};
    const config = window.QNABOT_CONFIG || {};  // read per turn: the page may change it
    if (config.streaming && channel !== "voice") {
      try {
        return await stream(body, onPartial);
      } catch (error) {
        // 404 (no streaming here), a dropped connection or a generation error: ask plainly.
      }
    }
    return postJson("chat", body);
  }

  window.QNABOT_TRANSPORT = {send, eventParser};
})();
