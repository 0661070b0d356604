// Draws every chart whose data sits in a <script type="application/json"> beside its
// canvas, on page load and after each htmx swap. Charts are kept in window.datacatCharts
// (by canvas id) so a later swap replaces them and tests can read what was drawn.
(function () {
  "use strict";
  window.datacatCharts = window.datacatCharts || {};

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") { return; }
    var series = JSON.parse(source.textContent);
    var previous = window.datacatCharts[canvas.id];
    if (previous) { previous.destroy(); }
    var scatter = canvas.dataset.kind === "scatter";
    var chart = new Chart(canvas, {
      type: scatter ? "scatter" : "line",
      data: {
        datasets: [{
          label: series.name,
          data: series.points.map(function (p) { return { x: p.t, y: p.v, session: p.s }; }),
          borderColor: colour("--accent"),
          backgroundColor: colour("--accent"),
          pointRadius: scatter ? 3 : 1.5,
          borderWidth: 1.5,
          tension: 0
        }]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: true,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { afterLabel: function (item) { return item.raw.session ? "session " + item.raw.session.slice(0, 8) : ""; } } }
        },
        scales: {
          x: { type: "time", ticks: { color: colour("--muted"), maxTicksLimit: 8, maxRotation: 0 }, grid: { color: colour("--grid") } },
          y: { ticks: { color: colour("--muted") }, grid: { color: colour("--grid") } }
        },
        onClick: function (event, elements) {
          if (scatter && elements.length) {
            var point = chart.data.datasets[0].data[elements[0].index];
            if (point.session) { window.location.href = "/sessions/" + point.session; }
          }
        }
      }
    });
    window.datacatCharts[canvas.id] = chart;
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.detail.elt); });
})();
