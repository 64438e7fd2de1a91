// Progressive enhancement only: every page reads fine without this file.
// 1. <time datetime="..." data-local> -> the visitor's local time (the server renders UTC).
(function () {
  "use strict";
  var fmt = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  function localise(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) {
        el.textContent = d.toLocaleString(undefined, fmt);
        el.setAttribute("title", el.getAttribute("datetime") + " (UTC: " + d.toUTCString() + ")");
        el.dataset.localised = "1";
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localise(e.target); });
})();
