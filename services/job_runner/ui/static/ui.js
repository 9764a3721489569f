// dayflow status page: the one script. It starts a confirmed backfill through POST /ui/backfills
// (JSON, with the X-Dayflow-UI header the server requires against cross-site requests) and opens
// the new backfill's page. Its input is the form's fields; nothing is inlined into scripts.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("start-backfill");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = {};
    new FormData(form).forEach(function (value, key) {
      body[key] = key === "partition_keys" ? String(value).split(",") : String(value);
    });
    var button = document.getElementById("confirm");
    var error = document.getElementById("start-error");
    button.disabled = true;
    fetch("/ui/backfills", {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Dayflow-UI": "start-backfill"},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.detail ? String(data.detail) : response.statusText);
        window.location.assign(data.backfill_id ?
          "/ui/backfills/" + encodeURIComponent(data.backfill_id) : "/ui/backfills");
      });
    }).catch(function (err) {
      error.textContent = "Could not start the backfill: " + err.message;
      error.hidden = false;
      button.disabled = false;
    });
  });
});
