/*! funnelbridge tracking snippet — vendored, dependency-free.
 * <script src="https://YOUR-FUNNELBRIDGE/static/track.js" data-key="fb_..." data-endpoint="https://YOUR-FUNNELBRIDGE/track" defer></script>
 * Sends page views, form submissions (forms with an email field) and custom events; keeps an anonymous id cookie
 * and captures UTM parameters so that first and last touch are attributed. Uses sendBeacon with a text/plain body
 * (no CORS preflight); the key is an ingest-only API key (rate limited, may not read anything).
 */
(function (w, d) {
  "use strict";
  var script = d.currentScript || d.querySelector("script[data-key][src*='track.js']");
  if (!script) return;
  var KEY = script.getAttribute("data-key");
  var ENDPOINT = script.getAttribute("data-endpoint") || new URL("/track", script.src).href;
  var COOKIE = "fb_aid", DAYS = 730;

  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0; return (c === "x" ? r : (r & 3 | 8)).toString(16);
    });
  }
  function getCookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function setCookie(name, value) {
    var exp = new Date(Date.now() + DAYS * 864e5).toUTCString();
    d.cookie = name + "=" + encodeURIComponent(value) + "; expires=" + exp + "; path=/; SameSite=Lax";
  }
  function anonymousId() {
    var id = getCookie(COOKIE);
    if (!id) { id = uuid(); setCookie(COOKIE, id); }
    return id;
  }
  function utm() {
    var out = {}, params = new URLSearchParams(w.location.search);
    ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"].forEach(function (k) {
      var v = params.get(k); if (v) out[k] = v;
    });
    return out;
  }
  function send(payload) {
    payload.anonymous_id = anonymousId();
    payload.timestamp = new Date().toISOString();
    payload.idempotency_key = payload.idempotency_key || uuid();
    var body = JSON.stringify(payload), url = ENDPOINT + "?key=" + encodeURIComponent(KEY);
    if (navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], {type: "text/plain"}))) return;
    fetch(url, {method: "POST", body: body, keepalive: true, headers: {"Content-Type": "text/plain"}});
  }
  function page() {
    var props = utm();
    props.path = w.location.pathname; props.url = w.location.href;
    props.referrer = d.referrer || undefined; props.title = d.title;
    send({type: "page", event: "page_view", properties: props});
  }
  function onSubmit(e) {
    var form = e.target;
    if (!form || form.tagName !== "FORM" || form.hasAttribute("data-fb-ignore")) return;
    var email = form.querySelector("input[type=email], input[name=email]");
    if (!email || !email.value) return;
    var traits = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "password" || el.type === "hidden" || el.type === "submit") return;
      if (el.type === "checkbox" || el.type === "radio") { if (el.checked) traits[el.name] = el.value; return; }
      traits[el.name] = el.value;
    });
    var props = utm();
    props.path = w.location.pathname; props.form = form.getAttribute("name") || form.id || "form";
    send({type: "form", event: form.getAttribute("data-fb-event") || "form_submit", email: email.value.trim(),
          traits: traits, properties: props});
  }
  w.funnelbridge = {
    track: function (event, properties) { send({type: "track", event: event, properties: properties || {}}); },
    identify: function (email, traits) { send({type: "identify", email: email, traits: traits || {}}); },
    page: page
  };
  d.addEventListener("submit", onSubmit, true);
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", page); else page();
})(window, document);
