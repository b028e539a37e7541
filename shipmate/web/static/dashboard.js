/* shipmate dashboard: small progressive enhancements. Every page works without this file.
 *
 * - The matrix page polls /live (the id of the newest event) every few seconds and, when
 *   it changes, fetches the table fragment and swaps it in: no full-page reload.
 * - Filter <select>s marked data-autosubmit submit their form on change.
 */
(function () {
  "use strict";

  var POLL_MS = 3000;

  function setupLive() {
    var live = document.getElementById("live");
    var target = document.getElementById("matrix");
    if (!live || !target || !window.fetch) return;
    var latest = live.getAttribute("data-latest-event");
    var liveUrl = live.getAttribute("data-live-url");
    var fragmentUrl = live.getAttribute("data-fragment-url");
    var text = live.querySelector(".live-text");
    var busy = false;
    live.hidden = false;

    function status(ok, message) {
      live.classList.toggle("offline", !ok);
      if (text) text.textContent = message;
    }

    function refresh() {
      return fetch(fragmentUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) {
          if (!r.ok) throw new Error("fragment " + r.status);
          return r.text();
        })
        .then(function (html) {
          target.innerHTML = html;
          target.classList.remove("flash");
          void target.offsetWidth; /* restart the animation */
          target.classList.add("flash");
        });
    }

    function poll() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (r.status === 401) {
            status(false, "Logged out");
            throw new Error("logged out");
          }
          if (!r.ok) throw new Error("live " + r.status);
          return r.json();
        })
        .then(function (data) {
          var now = String(data.latest_event);
          status(true, "Live");
          if (now !== latest) {
            latest = now;
            return refresh();
          }
        })
        .catch(function () {
          if (!live.classList.contains("offline")) status(false, "Reconnecting…");
        })
        .then(function () {
          busy = false;
        });
    }

    window.setInterval(poll, POLL_MS);
    document.addEventListener("visibilitychange", poll);
  }

  function setupAutosubmit() {
    var selects = document.querySelectorAll("select[data-autosubmit]");
    Array.prototype.forEach.call(selects, function (select) {
      select.addEventListener("change", function () {
        if (select.form) select.form.submit();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupLive();
    setupAutosubmit();
  });
})();
