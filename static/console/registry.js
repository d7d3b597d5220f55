/* A service's instance table, kept live: instances appear and disappear as
 * they register, deregister or their lease expires, without a reload. */
(function () {
  "use strict";
  var table = document.getElementById("instances");
  if (!table || !window.ConsoleLive) { return; }
  var body = table.tBodies[0];
  var count = document.getElementById("instance-count");

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function rowFor(instance) {
    var row = document.createElement("tr");
    row.setAttribute("data-instance", instance.id);
    var metadata = Object.keys(instance.metadata || {}).map(function (k) { return k + "=" + instance.metadata[k]; });
    [instance.id, instance.address, instance.port, instance.health, metadata.join(", ") || "—",
     instance.ttl + " s", (instance.registered_at || "").slice(0, 19).replace("T", " ")]
      .forEach(function (v) { row.appendChild(cell(String(v))); });
    return row;
  }

  function find(id) {
    return Array.prototype.filter.call(body.rows, function (r) { return r.getAttribute("data-instance") === id; })[0];
  }

  function put(instance) {
    var old = find(instance.id);
    var row = rowFor(instance);
    if (old) { body.replaceChild(row, old); } else { body.appendChild(row); }
  }

  function recount(said) {
    var n = body.rows.length;
    count.textContent = n + " instance" + (n === 1 ? "" : "s") + (said ? " — " + said : "");
  }

  window.ConsoleLive.subscribe(
    {service: table.getAttribute("data-service"), since: parseInt(table.getAttribute("data-revision"), 10)},
    function (message) {
      if (message.type === "instances" || message.type === "resync") {
        body.textContent = "";
        message.instances.forEach(put);
        recount("");
      } else if (message.type === "instance_change") {
        message.put.forEach(put);
        message.removed.forEach(function (id) {
          var row = find(id);
          if (row) { body.removeChild(row); }
        });
        var said = message.put.map(function (i) { return i.id + " registered"; })
          .concat(message.removed.map(function (id) { return id + " left"; })).join(", ");
        recount(said);
      }
    });
})();
