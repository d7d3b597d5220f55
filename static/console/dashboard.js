/* Keeps the dashboard's cluster panel current: /api/v1/cluster/status every
 * 5 s, re-rendering the members table, the cards and the alerts. */
(function () {
  "use strict";
  var section = document.getElementById("cluster");
  var table = document.getElementById("members");
  if (!section || !table) { return; }
  var LAGGING = 1000;

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function size(bytes) {
    var units = ["bytes", "KB", "MB", "GB"];
    var i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
    return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
  }

  function render(status) {
    var body = table.tBodies[0];
    body.textContent = "";
    var problems = [];
    var leader = null;
    status.members.forEach(function (m) {
      var row = document.createElement("tr");
      if (!m.reachable) { row.className = "highlight"; problems.push("Member " + (m.name || m.id) + " does not answer."); }
      else if (m.lag > LAGGING) { problems.push("Member " + m.name + " is " + m.lag + " entries behind the leader."); }
      if (m.role === "leader") { leader = m; }
      [m.name || m.id, m.role + (m.is_learner ? " (learner)" : ""), m.reachable ? m.term : "—",
       m.reachable ? m.applied_index : "—", m.reachable ? m.lag : "—", m.reachable ? size(m.db_size_bytes) : "—",
       m.client_urls.join(", ")].forEach(function (v) { row.appendChild(cell(String(v))); });
      body.appendChild(row);
    });
    if (!status.has_leader) {
      problems.unshift("No leader: the cluster cannot accept writes until a quorum of members elects one.");
    }
    (status.alarms || []).slice().reverse().forEach(function (a) { problems.unshift(a.message); });
    document.getElementById("leader-name").textContent = leader ? leader.name : "none";
    document.getElementById("leader-term").textContent = leader ? leader.term : "—";
    document.getElementById("store-revision").textContent = status.revision;
    var alerts = document.getElementById("alerts");
    alerts.textContent = "";
    (problems.length ? problems : ["Healthy: a leader is elected and every member answers."]).forEach(function (text) {
      var p = document.createElement("p");
      p.className = problems.length ? "alert" : "alert ok";
      p.textContent = text;
      alerts.appendChild(p);
    });
    document.getElementById("cluster-refreshed").textContent =
      "Refreshed at " + new Date().toLocaleTimeString() + "; again every 5 seconds.";
  }

  function refresh() {
    fetch(section.getAttribute("data-status-url"), {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) { if (status && status.members) { render(status); } })
      .catch(function () {
        document.getElementById("cluster-refreshed").textContent = "This node does not answer; retrying.";
      });
  }

  setInterval(refresh, 5000);
})();
