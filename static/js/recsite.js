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
            if (key === "status" && typeof job.status === "string") {
              f.textContent = job.status.charAt(0).toUpperCase() + job.status.slice(1);
              f.className = "status status-" + job.status;
              return;
            }
            if (job[key] !== undefined && job[key] !== null) f.textContent = job[key];
          });
          el.querySelectorAll("progress[data-progress]").forEach(function (bar) {
            if (typeof job.progress === "number") bar.value = job.progress;
          });
          var watch = el.dataset.reloadOn;  // e.g. "epochs_done": redraw curves as they grow
          var changed = watch && String(job[watch]) !== el.dataset.lastSeen;
          if (watch) el.dataset.lastSeen = String(job[watch]);
          if (job.is_finished) {
            window.location.reload();
          } else if (changed && el.dataset.figureUrl) {
            // Live curves: fetch the server-built figure again and redraw it in place.
            refreshFigure(el.dataset.figureUrl, el.dataset.figureTarget);
            window.setTimeout(tick, 1000);
          } else if (changed && el.dataset.primed === "true") {
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

  function refreshFigure(url, target) {
    var plot = document.querySelector('[data-figure="' + target + '"]');
    if (!plot || typeof Plotly === "undefined") return;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (fig) {
        Plotly.react(plot, fig.data, fig.layout, { responsive: true, displaylogo: false });
        var waiting = document.getElementById("curves-waiting");
        if (waiting && fig.data.length) waiting.hidden = true;
      });
  }

  // Tables of runs (data-runs-poll-url: the run list API) keep state and progress live.
  function pollRunTable(table) {
    function label(status) { return status.charAt(0).toUpperCase() + status.slice(1); }
    function unfinished() { return table.querySelectorAll('tr[data-finished="false"]').length; }
    function update(row, run) {
      var status = row.querySelector('[data-run-field="status"]');
      if (status) {
        status.textContent = label(run.status);
        status.className = "status status-" + run.status;
      }
      var bar = row.querySelector('[data-run-field="progress"]');
      if (bar) bar.value = run.progress;
      var epochs = row.querySelector('[data-run-field="epochs"]');
      if (epochs) epochs.textContent = run.epochs_done + "/" + run.epochs_total;
      var ndcg = row.querySelector('[data-run-field="ndcg_at_10"]');
      if (ndcg && run.metrics && typeof run.metrics.ndcg_at_10 === "number") {
        ndcg.textContent = run.metrics.ndcg_at_10.toFixed(4);
      }
      row.dataset.finished = run.is_finished ? "true" : "false";
      var box = row.querySelector('input[name="runs"]');
      if (box) box.disabled = run.status !== "succeeded";
    }
    function tick() {
      fetch(table.dataset.runsPollUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (runs) {
          var byId = {};
          (runs.results || runs).forEach(function (run) { byId[run.id] = run; });
          table.querySelectorAll("tr[data-run-id]").forEach(function (row) {
            var run = byId[row.dataset.runId];
            if (run) update(row, run);
          });
          if (unfinished()) window.setTimeout(tick, 1500);
        })
        .catch(function () { window.setTimeout(tick, 4000); });
    }
    if (unfinished()) window.setTimeout(tick, 1000);
  }

  // The launch form shows (and submits) only the chosen algorithm's hyper-parameters.
  function launchForm(form) {
    var select = form.querySelector('select[name="algorithm"]');
    if (!select) return;
    function show() {
      form.querySelectorAll("fieldset[data-algorithm]").forEach(function (set) {
        var chosen = set.dataset.algorithm === select.value;
        set.hidden = !chosen;
        set.disabled = !chosen;
      });
    }
    select.addEventListener("change", show);
    show();
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Star widgets save through the API without a page reload; the form still works without JS.
  function ratingWidget(form) {
    var status = form.querySelector(".saved");
    var remove = form.querySelector("[data-remove]");
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
          .then(function () { show(null); dismiss(form); return "Noted: not interested"; });
      } else {
        var value = Number(button.value);
        request = send("PUT", { value: value }).then(function () { show(value); return "Saved"; });
      }
      request.then(function (text) {
        status.textContent = text;
        if (remove) remove.hidden = text === "Removed";  // something saved can be removed at once
      })
        .catch(function () { status.textContent = "Could not save; try again"; });
    });
    starKeys(form);
  }

  // An entry marked data-dismissible (a "for you" pick) leaves the list once marked not interested;
  // focus moves to the next visible entry so keyboard users do not lose their place.
  function dismiss(form) {
    var entry = form.closest("[data-dismissible]");
    if (!entry) return;
    entry.hidden = true;
    var next = entry.nextElementSibling;
    while (next && next.hidden) next = next.nextElementSibling;
    var link = next && next.querySelector("a");
    if (link) link.focus();
  }

  // Arrow keys (and Home/End) move focus between the stars; Enter or Space then saves that one.
  // One star is in the Tab order at a time (roving tabindex), so Tab skips to the next control.
  function starKeys(form) {
    var stars = Array.prototype.slice.call(form.querySelectorAll(".star"));
    var steps = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };
    function rove(to) { stars.forEach(function (b, i) { b.tabIndex = i === to ? 0 : -1; }); }
    var pressed = stars.findIndex(function (b) { return b.getAttribute("aria-pressed") === "true"; });
    rove(Math.max(pressed, 0));
    form.addEventListener("focusin", function (event) {
      var at = stars.indexOf(event.target);
      if (at >= 0) rove(at);
    });
    form.addEventListener("keydown", function (event) {
      var at = stars.indexOf(document.activeElement);
      if (at < 0) return;
      var to;
      if (event.key === "Home") to = 0;
      else if (event.key === "End") to = stars.length - 1;
      else if (event.key in steps) to = Math.min(stars.length - 1, Math.max(0, at + steps[event.key]));
      else return;
      event.preventDefault();  // arrows would otherwise scroll the page
      stars[to].focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    document.querySelectorAll("form[data-rate-url]").forEach(ratingWidget);
    document.querySelectorAll("table[data-runs-poll-url]").forEach(pollRunTable);
    document.querySelectorAll("form#launch-form").forEach(launchForm);
    document.querySelectorAll("[data-poll-url]").forEach(function (el) {
      if (el.dataset.finished !== "true") pollJob(el);
    });
  });
})();
