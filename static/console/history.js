/* Release history: the Compare button is enabled only once an older and a
 * newer release are picked and they differ (without this script the
 * compare page itself says what is missing). */
(function () {
  "use strict";

  var form = document.getElementById("compare-form");
  if (!form) { return; }
  var button = document.getElementById("compare-button");
  var help = document.getElementById("compare-help");

  function picked(name) {
    var checked = form.querySelector("input[name='" + name + "']:checked");
    return checked ? checked.value : null;
  }

  function update() {
    var old = picked("old");
    var fresh = picked("new");
    if (old === null || fresh === null) {
      help.textContent = "Pick an older and a newer release, then compare them.";
      button.disabled = true;
    } else if (old === fresh) {
      help.textContent = "Pick two different releases.";
      button.disabled = true;
    } else {
      help.textContent = "Compare release #" + old + " with release #" + fresh + ".";
      button.disabled = false;
    }
  }

  form.addEventListener("change", update);
  update();
}());
