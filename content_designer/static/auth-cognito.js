// Sign-in through the Cognito hosted UI (authorization code with PKCE), for pages served by
// the stack's API (contract C1). Defines window.QNABOT_AUTH = {getToken(), signOut()}:
// getToken() resolves to a valid ID token, refreshing it or sending the browser to the hosted
// UI when needed (then the promise never resolves: the page is navigating away, and comes back
// here with ?code=... which getToken() exchanges). Tokens live in sessionStorage, per tab.
// Needs window.QNABOT_CONFIG.cognito = {region, userPoolId, clientId, domain} (config.js).
(function () {
  "use strict";
  const cognito = (window.QNABOT_CONFIG || {}).cognito || {};
  const KEY = "qnabot.cognito." + (cognito.clientId || "none");
  const PKCE_KEY = KEY + ".pkce";
  const EARLY_SECONDS = 60; // refresh a token this long before it expires

  // The redirect URI must equal one of the client's CallbackURLs: the page itself.
  function pageUrl() {
    return window.location.origin + window.location.pathname;
  }

  function base64url(bytes) {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomText(length) {
    return base64url(crypto.getRandomValues(new Uint8Array(length))).slice(0, length);
  }

  function claims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
    } catch (error) {
      return {};
    }
  }

  function load() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch (error) {
      return null;
    }
  }

  function save(reply, previous) {
    const tokens = {
      idToken: reply.id_token,
      refreshToken: reply.refresh_token || (previous && previous.refreshToken) || "",
      expiresAt: (claims(reply.id_token).exp || 0) * 1000,
    };
    sessionStorage.setItem(KEY, JSON.stringify(tokens));
    return tokens;
  }

  async function tokenRequest(fields) {
    const response = await fetch("https://" + cognito.domain + "/oauth2/token", {
      method: "POST",
      headers: {"Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams(Object.assign({client_id: cognito.clientId}, fields)),
    });
    const reply = await response.json().catch(() => ({}));
    if (!response.ok || !reply.id_token) {
      throw new Error("Cognito refused the sign-in: " + (reply.error || response.status));
    }
    return reply;
  }

  async function signIn() {
    const verifier = randomText(64);
    const state = randomText(24);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    sessionStorage.setItem(PKCE_KEY, JSON.stringify({verifier: verifier, state: state}));
    const query = new URLSearchParams({
      response_type: "code", client_id: cognito.clientId, redirect_uri: pageUrl(),
      scope: "openid email profile", state: state,
      code_challenge: base64url(digest), code_challenge_method: "S256",
    });
    window.location.assign("https://" + cognito.domain + "/oauth2/authorize?" + query);
    return new Promise(() => {}); // the page is leaving
  }

  // Back from the hosted UI with ?code=...&state=...: exchange the code, clean the address.
  async function finishSignIn() {
    const query = new URLSearchParams(window.location.search);
    const code = query.get("code");
    if (!code) return null;
    const pkce = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "{}");
    sessionStorage.removeItem(PKCE_KEY);
    window.history.replaceState(null, "", pageUrl() + window.location.hash);
    if (!pkce.verifier || pkce.state !== query.get("state")) return null; // not ours: sign in again
    const reply = await tokenRequest({
      grant_type: "authorization_code", code: code, redirect_uri: pageUrl(),
      code_verifier: pkce.verifier,
    });
    return save(reply, null).idToken;
  }

  let finishing = null;

  async function getToken() {
    const tokens = load();
    if (tokens && tokens.expiresAt - Date.now() > EARLY_SECONDS * 1000) return tokens.idToken;
    if (tokens && tokens.refreshToken) {
      try {
        const reply = await tokenRequest({grant_type: "refresh_token",
                                          refresh_token: tokens.refreshToken});
        return save(reply, tokens).idToken;
      } catch (error) {
        sessionStorage.removeItem(KEY); // expired or revoked: sign in again
      }
    }
    finishing = finishing || finishSignIn();
    const token = await finishing.finally(() => { finishing = null; });
    return token || signIn();
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    const query = new URLSearchParams({client_id: cognito.clientId, logout_uri: pageUrl()});
    window.location.assign("https://" + cognito.domain + "/logout?" + query);
  }

  window.QNABOT_AUTH = {getToken: getToken, signOut: signOut};
})();
