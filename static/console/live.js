/* Live updates for console pages: one websocket per page to /ws/v1/config,
 * authenticated by the page's own session cookie (no token in the page).
 *
 *   ConsoleLive.subscribe({activity: ns, since: rev}, onMessage)
 *   ConsoleLive.subscribe({namespace: ns, since: rev}, onMessage)
 *   ConsoleLive.subscribe({service: name, since: rev}, onMessage)
 *   ConsoleLive.banner(text, [{label, href} | {label, onClick}])
 *
 * Each subscription remembers the last revision it was sent, so after a
 * dropped connection it resumes with since=<that revision> and the page
 * misses nothing and sees nothing twice.
 *
 * A page whose <body> has data-live-activity="<ns>" and data-live-revision
 * gets the "changed since you opened it" banner on the first change made
 * after it was rendered, unless it sets data-live-manual="1" and handles
 * the messages itself.
 */
(function () {
  "use strict";

  var TOPICS = ["namespace", "service", "activity"];
  var subscriptions = {};   // "field:name" -> {field, name, since, handlers}
  var socket = null;
  var retryMs = 500;

  function topicOf(message) {
    for (var i = 0; i < TOPICS.length; i++) {
      if (typeof message[TOPICS[i]] === "string") {
        return TOPICS[i] + ":" + message[TOPICS[i]];
      }
    }
    return null;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
    }
  }

  function subscribeMessage(sub) {
    var message = {type: "subscribe"};
    message[sub.field] = sub.name;
    if (sub.since !== null && sub.since !== undefined) {
      message.since = sub.since;
    }
    return message;
  }

  function statusLine() {
    var line = document.getElementById("live-status");
    if (!line) {
      line = document.createElement("p");
      line.id = "live-status";
      line.className = "live-status";
      line.setAttribute("role", "status");
      var main = document.getElementById("main");
      if (main) { main.insertBefore(line, main.firstChild); }
    }
    return line;
  }

  function setStatus(text) {
    var line = statusLine();
    line.textContent = text;
    line.hidden = !text;
  }

  function onMessage(event) {
    var message;
    try {
      message = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (message.type === "status") {
      setStatus(message.leader ? "" : "This member has lost contact with the cluster's leader: what you see may be out of date.");
      return;
    }
    if (message.type === "welcome") {
      setStatus(message.leader ? "" : "This member has no leader right now: what you see may be out of date.");
      return;
    }
    var key = topicOf(message);
    var sub = key && subscriptions[key];
    if (!sub) {
      return;
    }
    if (message.type === "error") {
      setStatus("Live updates stopped: " + message.message);
      delete subscriptions[key];
      return;
    }
    if (typeof message.revision === "number" && message.type !== "progress") {
      sub.since = message.revision;
    }
    sub.handlers.forEach(function (handler) { handler(message); });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/v1/config");
    socket.addEventListener("open", function () {
      retryMs = 500;
      Object.keys(subscriptions).forEach(function (key) { send(subscribeMessage(subscriptions[key])); });
    });
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", function (event) {
      socket = null;
      if (event.code === 4001) {
        setStatus("Your session has ended: log in again to see live changes.");
        return;
      }
      setStatus("Live updates paused: reconnecting…");
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    });
  }

  function subscribe(request, handler) {
    var field = TOPICS.filter(function (f) { return typeof request[f] === "string"; })[0];
    if (!field) {
      throw new Error("ConsoleLive.subscribe needs a namespace, service or activity");
    }
    var key = field + ":" + request[field];
    var sub = subscriptions[key];
    if (!sub) {
      sub = subscriptions[key] = {field: field, name: request[field], since: request.since, handlers: []};
      send(subscribeMessage(sub));
    }
    sub.handlers.push(handler);
    if (!socket) {
      connect();
    }
  }

  function banner(text, actions) {
    var bar = document.getElementById("live-banner");
    if (!bar) { return; }
    bar.textContent = "";
    var words = document.createElement("span");
    words.textContent = text;
    bar.appendChild(words);
    (actions || []).forEach(function (action) {
      var control;
      if (action.href) {
        control = document.createElement("a");
        control.href = action.href;
      } else {
        control = document.createElement("button");
        control.type = "button";
        control.addEventListener("click", action.onClick);
      }
      control.textContent = action.label;
      bar.appendChild(control);
    });
    bar.hidden = false;
  }

  /* "alice: draft save app.yaml" for an activity message. */
  function describe(message) {
    var what = (message.action || "change").replace(".", " ");
    var target = message.target || "";
    var ns = message.activity || "";
    if (target === ns) {
      target = "";
    } else if (ns && target.indexOf(ns + "/") === 0) {
      target = target.slice(ns.length + 1);
    }
    return message.actor + ": " + what + (target ? " " + target : "");
  }

  function watchActivityByDefault() {
    var body = document.body;
    var ns = body.getAttribute("data-live-activity");
    if (!ns || body.getAttribute("data-live-manual") === "1") {
      return;
    }
    var revision = parseInt(body.getAttribute("data-live-revision"), 10);
    var changes = 0;
    subscribe({activity: ns, since: isNaN(revision) ? null : revision}, function (message) {
      if (message.type === "activity") {
        changes += 1;
        banner("Changed since you opened it: " + (changes === 1 ? "1 change" : changes + " changes") +
               ", the last by " + describe(message) + ".",
               [{label: "Reload", onClick: function () { location.reload(); }}]);
      } else if (message.type === "resync") {
        banner("This page may be out of date.", [{label: "Reload", onClick: function () { location.reload(); }}]);
      }
    });
  }

  window.ConsoleLive = {subscribe: subscribe, banner: banner, describe: describe};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watchActivityByDefault);
  } else {
    watchActivityByDefault();
  }
})();
