// Put the QnABot chat on any web page: a round button in the corner opens the chat in a frame.
// Add a deferred script tag loading https://YOUR-QNABOT/static/embed.js (see the README).
// Optional attributes on that script tag: data-title (the button's label) and
// data-position ("left" for bottom-left instead of bottom-right).
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || document.getElementById("qnabot-embed-frame")) return;
  const base = script.src.replace(/static\/embed\.js(\?.*)?$/, "");
  const title = script.getAttribute("data-title") || "Ask a question";
  const side = script.getAttribute("data-position") === "left" ? "left" : "right";
  const place = (node, bottom) => Object.assign(node.style, {position: "fixed", bottom, [side]: "20px", zIndex: 2147483000});

  const frame = document.createElement("iframe");
  frame.id = "qnabot-embed-frame";
  frame.title = "QnABot chat";
  frame.src = `${base}chat?embed=1`;
  frame.allow = "microphone; autoplay";
  frame.hidden = true;
  place(frame, "88px");
  Object.assign(frame.style, {width: "min(380px, calc(100vw - 40px))", height: "min(600px, calc(100vh - 120px))",
                              border: "1px solid #d5dbdb", borderRadius: "12px", background: "#fff",
                              boxShadow: "0 8px 28px rgba(0,0,0,.25)"});

  const button = document.createElement("button");
  button.type = "button";
  button.id = "qnabot-embed-button";
  button.setAttribute("aria-label", title);
  button.setAttribute("aria-expanded", "false");
  button.title = title;
  const icon = (closed) => {  // a speech bubble, or a cross when the chat is open
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", closed ? "M4 4h16v11H9l-5 4z" : "M6 6l12 12M18 6L6 18");
    path.setAttribute("fill", closed ? "#fff" : "none");
    path.setAttribute("stroke", "#fff");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
    button.replaceChildren(svg);
  };
  icon(true);
  place(button, "20px");
  Object.assign(button.style, {width: "56px", height: "56px", borderRadius: "50%", border: "none",
                               background: "#0972d3", cursor: "pointer", display: "grid", placeItems: "center",
                               boxShadow: "0 4px 14px rgba(0,0,0,.3)"});
  button.addEventListener("click", () => {
    frame.hidden = !frame.hidden;
    button.setAttribute("aria-expanded", String(!frame.hidden));
    icon(frame.hidden);
  });
  document.body.append(frame, button);
})();
