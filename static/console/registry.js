/* A service page's instance table, kept live over ConsoleLive (live.js).
 *
 * The page was rendered at store revision data-revision; subscribing with
 * since=<that revision> means the first messages are the changes made after
 * the page's read ("instance_change": the instances registered or updated,
 * "put", and the ids that went, "removed"). An "instances" or "resync"
 * message carries the whole list and replaces the table.
 *
 * Rows are built like the server's (templates/console/service.html) and
 * kept in id order, as the server lists them. Each change is announced in
 * #instance-count, a polite live region.
 */
(function () {
  "use strict";

  var table = document.getElementById("instances");
  if (!table || !window.ConsoleLive) {
    return;
  }
  var body = table.tBodies[0];
  var count = document.getElementById("instance-count");
  var empty = document.getElementById("no-instances");

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) {
      node.textContent = text;
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function cell(child) {
    var td = document.createElement("td");
    td.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    return td;
  }

  function metadataOf(instance) {
    var metadata = instance.metadata || {};
    var keys = Object.keys(metadata).sort();
    if (!keys.length) {
      return element("span", "none", "muted");
    }
    var list = element("ul", undefined, "metadata");
    keys.forEach(function (key) {
      var item = element("li");
      item.appendChild(element("code", key + "=" + metadata[key]));
      list.appendChild(item);
    });
    return list;
  }

  function rowFor(instance) {
    var row = document.createElement("tr");
    row.setAttribute("data-instance", instance.id);
    var registered = (instance.registered_at || "").slice(0, 19).replace("T", " ");
    [
      element("code", instance.id),
      String(instance.address),
      String(instance.port),
      element("span", instance.health, "badge health-" + instance.health),
      metadataOf(instance),
      instance.ttl + " s",
      registered + " by " + instance.registered_by
    ].forEach(function (content) { row.appendChild(cell(content)); });
    return row;
  }

  function rowOf(id) {
    for (var i = 0; i < body.rows.length; i++) {
      if (body.rows[i].getAttribute("data-instance") === id) {
        return body.rows[i];
      }
    }
    return null;
  }

  /* Insert or replace; true when the instance is new to the table. */
  function put(instance, highlight) {
    var row = rowFor(instance);
    if (highlight) {
      row.className = "highlight";
    }
    var old = rowOf(instance.id);
    if (old) {
      body.replaceChild(row, old);
      return false;
    }
    var next = null;
    for (var i = 0; i < body.rows.length && !next; i++) {
      if (body.rows[i].getAttribute("data-instance") > instance.id) {
        next = body.rows[i];
      }
    }
    body.insertBefore(row, next);
    return true;
  }

  function remove(id) {
    var row = rowOf(id);
    if (row) {
      body.removeChild(row);
    }
  }

  function announce(what) {
    var n = body.rows.length;
    count.textContent = n + " live instance" + (n === 1 ? "" : "s") + (what ? ". " + what + "." : "");
    empty.hidden = n > 0;
  }

  function clearHighlights() {
    Array.prototype.forEach.call(body.rows, function (row) { row.className = ""; });
  }

  function onMessage(message) {
    if (message.type === "instances" || message.type === "resync") {
      body.textContent = "";
      message.instances.forEach(function (instance) { put(instance, false); });
      announce(message.type === "resync" ? "The list was reloaded from the registry" : "");
    } else if (message.type === "instance_change") {
      clearHighlights();
      var said = message.put.map(function (instance) {
        return instance.id + (put(instance, true) ? " registered" : " updated");
      });
      message.removed.forEach(function (id) {
        remove(id);
        said.push(id + " left");
      });
      announce(said.join(", "));
    }
  }

  var revision = parseInt(table.getAttribute("data-revision"), 10);
  window.ConsoleLive.subscribe(
    {service: table.getAttribute("data-service"), since: isNaN(revision) ? null : revision},
    onMessage);
})();
