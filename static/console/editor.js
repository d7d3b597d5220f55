/* The item editor: CodeMirror over the page's <textarea> (the form works
 * without it), validation by the server as the operator types, and a
 * notice when someone else changes this item meanwhile. */
(function () {
  "use strict";

  var MODES = {json: {name: "javascript", json: true}, yaml: "yaml", properties: "properties", text: null};
  var form = document.querySelector("form.editor-form");
  var textarea = document.getElementById("content");
  if (!form || !textarea) { return; }
  var formatField = document.getElementById("format");
  var report = document.getElementById("validation");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var marked = [];
  var timer = null;
  var asked = 0;

  var editor = window.CodeMirror ? CodeMirror.fromTextArea(textarea, {
    lineNumbers: true,
    mode: MODES[formatField.value],
    readOnly: textarea.readOnly,
    gutters: ["CodeMirror-linenumbers", "cc-error-gutter"],
    viewportMargin: Infinity,
    extraKeys: {Tab: false, "Shift-Tab": false}  // keep Tab for moving focus
  }) : null;
  if (editor) {
    editor.getInputField().setAttribute("aria-label", "Content");
    editor.getInputField().setAttribute("aria-describedby", "validation");
  }

  function text() { return editor ? editor.getValue() : textarea.value; }

  function clearMarks() {
    marked.forEach(function (line) {
      editor.removeLineClass(line, "background", "cc-error-line");
      editor.setGutterMarker(line, "cc-error-gutter", null);
    });
    marked = [];
  }

  function markLine(line, message) {
    if (!editor || !line) { return; }
    var handle = editor.addLineClass(line - 1, "background", "cc-error-line");
    var marker = document.createElement("span");
    marker.className = "cc-error-marker";
    marker.textContent = "●";
    marker.title = message;
    editor.setGutterMarker(handle, "cc-error-gutter", marker);
    marked.push(handle);
  }

  function show(result) {
    if (editor) { clearMarks(); }
    report.textContent = "";
    var list = document.createElement("ul");
    result.errors.forEach(function (error) {
      var item = document.createElement("li");
      item.className = "field-error";
      item.textContent = (error.line ? "Line " + error.line + ", column " + error.column + ": " : "") + error.message;
      list.appendChild(item);
      markLine(error.line, error.message);
    });
    result.schema.forEach(function (violation) {
      var item = document.createElement("li");
      item.className = "field-error";
      item.textContent = "Schema: " + (violation.path || "(the whole document)") + ": " + violation.message;
      list.appendChild(item);
    });
    if (result.ok) {
      var fine = document.createElement("p");
      fine.className = "valid";
      fine.textContent = "Valid " + formatField.value + ".";
      report.appendChild(fine);
    } else {
      report.appendChild(list);
    }
  }

  function validate() {
    var ticket = ++asked;
    fetch(form.getAttribute("data-validate-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({format: formatField.value, content: text()})
    }).then(function (response) {
      return response.json();
    }).then(function (result) {
      if (ticket !== asked) { return; }  // an answer to an older text
      if (result.errors) {
        show(result);
      } else {
        report.textContent = result.message || "Could not check the content.";
      }
    }).catch(function () {
      if (ticket === asked) { report.textContent = "Could not reach the server to check the content."; }
    });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(validate, 300);
  }

  if (editor) {
    editor.on("change", soon);
  } else {
    textarea.addEventListener("input", soon);
  }
  formatField.addEventListener("change", function () {
    if (editor) { editor.setOption("mode", MODES[formatField.value]); }
    soon();
  });
  if (!textarea.readOnly) { soon(); }

  // Someone else changing this very item while it is open.
  var body = document.body;
  var ns = body.getAttribute("data-live-activity");
  var nameField = document.getElementById("name");
  var itemName = nameField ? null : decodeURIComponent(location.pathname.split("/-/items/")[1] || "");
  if (window.ConsoleLive && ns && itemName) {
    window.ConsoleLive.subscribe(
      {activity: ns, since: parseInt(body.getAttribute("data-live-revision"), 10)},
      function (message) {
        if (message.type === "activity" && message.target === ns + "/" + itemName) {
          window.ConsoleLive.banner(
            "Changed since you opened it (" + window.ConsoleLive.describe(message) + "). " +
            "Saving now shows both versions side by side; nothing is overwritten.",
            [{label: "Reload theirs", onClick: function () { location.reload(); }}]);
        }
      });
  }
})();
