// The chat page's transport in AWS (contract C2): each turn goes to Amazon Lex V2
// RecognizeText on the bot's live alias, signed (SigV4, vendored aws4fetch) with credentials
// from the stack's Cognito identity pool, as QnABot's web client does. PUBLIC stacks chat as
// guests; PRIVATE ones sign in first (auth-cognito.js) and pass the ID token to the pool.
// The reply is Lex's response plus `display` ({html, text, qid, got_answer, card}), built here
// the way the local server builds it: markdown from appContext.altMessages rendered with the
// vendored marked and cleaned with the vendored DOMPurify, the response card as plain text.
// Needs: config.js, vendor-aws4fetch.js, vendor-marked.js, vendor-purify.js (and
// auth-cognito.js when QNABOT_CONFIG.lex.publicOrPrivate is PRIVATE), loaded before it.
// send(text, {sessionId, channel, onPartial, requestAttributes}): requestAttributes go to
// RecognizeText's requestAttributes (the chat page marks its welcome turn so).
(function () {
  "use strict";
  const config = window.QNABOT_CONFIG || {};
  const lex = config.lex || {};
  const EARLY_MS = 120 * 1000; // renew credentials this long before they expire
  let credentials = null;

  async function identityCall(target, body) {
    const response = await fetch("https://cognito-identity." + lex.region + ".amazonaws.com/", {
      method: "POST",
      headers: {"Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "AWSCognitoIdentityService." + target},
      body: JSON.stringify(body),
    });
    const reply = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error("Cognito " + target + " failed: " +
                      (reply.message || reply.__type || response.status));
    }
    return reply;
  }

  async function logins() {
    if (lex.publicOrPrivate !== "PRIVATE" || !window.QNABOT_AUTH || !config.cognito) return null;
    const token = await window.QNABOT_AUTH.getToken();
    const provider = "cognito-idp." + config.cognito.region + ".amazonaws.com/" +
                     config.cognito.userPoolId;
    return {[provider]: token};
  }

  async function currentCredentials() {
    if (credentials && credentials.expiresAt - Date.now() > EARLY_MS) return credentials;
    const signedIn = await logins();
    const extra = signedIn ? {Logins: signedIn} : {};
    const id = await identityCall("GetId", Object.assign({IdentityPoolId: lex.identityPoolId},
                                                         extra));
    const reply = await identityCall("GetCredentialsForIdentity",
                                     Object.assign({IdentityId: id.IdentityId}, extra));
    const c = reply.Credentials;
    credentials = {accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretKey,
                   sessionToken: c.SessionToken, expiresAt: c.Expiration * 1000};
    return credentials;
  }

  function recognizeTextUrl(sessionId) {
    const part = encodeURIComponent;
    return "https://runtime-v2-lex." + lex.region + ".amazonaws.com/bot/" + part(lex.botId) +
      "/botAlias/" + part(lex.botAliasId) + "/botLocale/" + part(lex.localeId || "en_US") +
      "/session/" + part(sessionId) + "/text";
  }

  // --- display: the same block the local server's POST chat returns ---------------------------

  const SAFE_URL = /^(?:https?:|mailto:|tel:)/i;
  if (window.DOMPurify && window.DOMPurify.addHook) {
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A" && node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    });
  }

  function safeHtml(markdown) {
    const html = window.marked.parse(markdown || "", {gfm: true, async: false});
    return window.DOMPurify.sanitize(html, {ALLOWED_URI_REGEXP: SAFE_URL,
                                            ADD_TAGS: ["details", "summary"],
                                            FORBID_ATTR: ["style"]});
  }

  function plainText(text) {
    return window.DOMPurify.sanitize(String(text || ""), {ALLOWED_TAGS: [], KEEP_CONTENT: true});
  }

  function appContext(attributes) {
    try {
      const value = JSON.parse(attributes.appContext || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (error) {
      return {};
    }
  }

  function responseCard(messages) {
    const message = messages.find((m) => m && m.contentType === "ImageResponseCard");
    if (!message) return null;
    const card = message.imageResponseCard || {};
    const image = String(card.imageUrl || "");
    return {
      title: plainText(card.title), subtitle: plainText(card.subtitle),
      image_url: /^https:\/\//i.test(image) ? image : "",
      buttons: (card.buttons || []).map((b) => ({text: plainText(b.text), value: plainText(b.value)}))
        .filter((b) => b.text && b.value),
    };
  }

  function display(response) {
    const attributes = (response.sessionState || {}).sessionAttributes || {};
    const messages = response.messages || [];
    const text = messages.filter((m) => m && (m.contentType === "PlainText" ||
                                              m.contentType === "SSML"))
      .map((m) => String(m.content || "")).join("\n\n");
    const alt = appContext(attributes).altMessages || {};
    const markdown = typeof alt.markdown === "string" && alt.markdown ? alt.markdown
      : plainText(text);
    return {html: safeHtml(markdown), text: plainText(text),
            qid: String(attributes.qnabot_qid || ""),
            got_answer: attributes.qnabot_gotanswer === "true", card: responseCard(messages)};
  }

  // --- streaming: partial answers over the stack's WebSocket (lex.streamingUrl) ---------------
  // The connection is signed with the identity's credentials (IAM) and names the Lex session;
  // the stack then posts {"type": "partial", "sessionId", "text"} while an answer is written.
  let stream = null;

  async function openStream(sessionId) {
    if (stream && stream.sessionId === sessionId && stream.socket.readyState === WebSocket.OPEN) {
      return stream;
    }
    if (stream) stream.socket.close();
    const c = await currentCredentials();
    const signer = new window.aws4fetch.AwsClient({
      accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey,
      sessionToken: c.sessionToken, service: "execute-api", region: lex.region,
    });
    const url = lex.streamingUrl.replace(/^wss:/, "https:") + "?sessionId=" +
      encodeURIComponent(sessionId);
    const signed = await signer.sign(url, {method: "GET", aws: {signQuery: true}});
    const socket = new WebSocket(signed.url.replace(/^https:/, "wss:"));
    const opened = {sessionId: sessionId, socket: socket, listener: null};
    socket.onmessage = (event) => {
      let message = null;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      if (message && message.type === "partial" && message.sessionId === sessionId &&
          opened.listener) {
        opened.listener(String(message.text || ""));
      }
    };
    await new Promise((resolve) => {
      socket.onopen = resolve;
      socket.onerror = resolve;
      setTimeout(resolve, 3000); // a turn never waits longer for its stream
    });
    stream = opened;
    return socket.readyState === WebSocket.OPEN ? opened : null;
  }

  async function send(text, options) {
    const sessionId = (options && options.sessionId) || "web-" + Date.now();
    let streaming = null;
    if (config.streaming && lex.streamingUrl && options && options.onPartial &&
        options.channel !== "voice") {
      streaming = await openStream(sessionId).catch(() => null); // no stream: whole answers
      if (streaming) streaming.listener = options.onPartial;
    }
    try {
      return await recognize(text, sessionId, (options && options.requestAttributes) || {});
    } finally {
      if (streaming) streaming.listener = null;
    }
  }

  async function recognize(text, sessionId, requestAttributes) {
    const c = await currentCredentials();
    const client = new window.aws4fetch.AwsClient({
      accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey,
      sessionToken: c.sessionToken, service: "lex", region: lex.region,
    });
    const response = await client.fetch(recognizeTextUrl(sessionId), {
      method: "POST", headers: {"Content-Type": "application/json"},
      // requestAttributes reach the fulfillment Lambda's event for this turn only
      body: JSON.stringify(Object.keys(requestAttributes).length
        ? {text: text, requestAttributes: requestAttributes} : {text: text}),
    });
    const reply = await response.json().catch(() => ({}));
    if (!response.ok) {
      if (response.status === 403) credentials = null; // expired: new ones next turn
      throw new Error("Lex could not answer: " + (reply.message || response.status));
    }
    return Object.assign({}, reply, {display: display(reply)});
  }

  window.QNABOT_TRANSPORT = {send: send, display: display};
})();
