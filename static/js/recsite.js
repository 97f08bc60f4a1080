// RecSite's one page script: draws Plotly figures handed over as JSON and polls job progress.
// Kept as a static file so a strict Content-Security-Policy (no inline script) holds.
(function () {
  "use strict";

  function drawCharts() {
    if (typeof Plotly === "undefined") return;
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var data = document.getElementById(el.dataset.figure);
      if (!data) return;
      var fig = JSON.parse(data.textContent);
      Plotly.newPlot(el, fig.data, fig.layout, { responsive: true, displaylogo: false });
    });
  }

  function pollJob(el) {
    var url = el.dataset.pollUrl;
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          el.querySelectorAll("[data-field]").forEach(function (f) {
            var key = f.dataset.field;
            if (key === "progress") return;
            if (job[key] !== undefined && job[key] !== null) f.textContent = job[key];
          });
          var watch = el.dataset.reloadOn;  // e.g. "epochs_done": redraw curves as they grow
          var changed = watch && String(job[watch]) !== el.dataset.lastSeen;
          if (watch) el.dataset.lastSeen = String(job[watch]);
          if (job.is_finished || (changed && el.dataset.primed === "true")) {
            window.location.reload();
          } else {
            el.dataset.primed = "true";
            window.setTimeout(tick, 1000);
          }
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    }
    window.setTimeout(tick, 500);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    document.querySelectorAll("[data-poll-url]").forEach(function (el) {
      if (el.dataset.finished !== "true") pollJob(el);
    });
  });
})();
