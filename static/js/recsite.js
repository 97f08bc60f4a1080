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

  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Star widgets save through the API without a page reload; the form still works without JS.
  function ratingWidget(form) {
    var status = form.querySelector(".saved");
    function send(method, body) {
      return fetch(form.dataset.rateUrl, {
        method: method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: body ? JSON.stringify(body) : undefined,
      }).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r;
      });
    }
    function show(value) {
      form.querySelectorAll(".star").forEach(function (b) {
        var v = Number(b.value);
        b.classList.toggle("on", value !== null && v <= value);
        b.setAttribute("aria-pressed", String(v === value));
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter;
      if (!button) return;
      var request;
      if (button.hasAttribute("data-remove")) {
        request = send("DELETE").then(function () { show(null); return "Removed"; });
      } else if (button.hasAttribute("data-not-interested")) {
        request = send("PUT", { value: 1, event_type: "not_interested" })
          .then(function () { show(null); return "Noted: not interested"; });
      } else {
        var value = Number(button.value);
        request = send("PUT", { value: value }).then(function () { show(value); return "Saved"; });
      }
      request.then(function (text) { status.textContent = text; })
        .catch(function () { status.textContent = "Could not save; try again"; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    document.querySelectorAll("form[data-rate-url]").forEach(ratingWidget);
    document.querySelectorAll("[data-poll-url]").forEach(function (el) {
      if (el.dataset.finished !== "true") pollJob(el);
    });
  });
})();
