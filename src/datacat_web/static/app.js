// Draws every chart whose data sits in a <script type="application/json"> beside its
// canvas, on page load and whenever htmx adds content (a swap or an out-of-band
// fragment). Charts are kept in window.datacatCharts (by canvas id) so a redraw replaces
// the old chart and tests can read what was drawn.
(function () {
  "use strict";
  window.datacatCharts = window.datacatCharts || {};

  var PALETTE = ["#2f7ed8", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#6b8e23", "#c2185b", "#546e7a"];

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Chart.js's date adapter draws local time; every other time on the page is UTC, so
  // shift each instant by the browser's offset and the axis shows UTC wall-clock time.
  function utcWallClock(iso) {
    var ms = Date.parse(iso);
    return ms + new Date(ms).getTimezoneOffset() * 60000;
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") { return; }
    var series = JSON.parse(source.textContent);
    var previous = window.datacatCharts[canvas.id];
    if (previous) { previous.destroy(); }
    var scatter = canvas.dataset.kind === "scatter";
    // A grouped series (group_by) draws one line per group, told apart by the legend.
    var lines = series.groups || [{ label: series.name, points: series.points }];
    var chart = new Chart(canvas, {
      type: scatter ? "scatter" : "line",
      data: {
        datasets: lines.map(function (line, index) {
          var tint = series.groups ? PALETTE[index % PALETTE.length] : colour("--accent");
          return {
            label: line.label,
            data: line.points.map(function (p) { return { x: utcWallClock(p.t), y: p.v, session: p.s }; }),
            borderColor: tint,
            backgroundColor: tint,
            pointRadius: scatter ? 3.5 : 2,
            pointHoverRadius: 6,
            borderWidth: 1.5,
            tension: 0
          };
        })
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: Boolean(series.groups), labels: { color: colour("--muted") } },
          tooltip: {
            callbacks: {
              afterLabel: function (item) {
                return item.raw.session ? "session " + item.raw.session.slice(0, 8) : "";
              }
            }
          }
        },
        scales: {
          x: {
            type: "time",
            time: {
              tooltipFormat: "yyyy-MM-dd HH:mm:ss",
              displayFormats: {
                millisecond: "HH:mm:ss.SSS", second: "HH:mm:ss", minute: "HH:mm",
                hour: "MMM d HH:mm", day: "MMM d", month: "MMM yyyy"
              }
            },
            title: { display: true, text: "UTC", color: colour("--muted") },
            ticks: { color: colour("--muted"), maxTicksLimit: 8, maxRotation: 0 },
            grid: { color: colour("--grid") }
          },
          y: { ticks: { color: colour("--muted") }, grid: { color: colour("--grid") } }
        },
        onClick: function (event, elements) {
          if (scatter && elements.length) {
            var point = chart.data.datasets[elements[0].datasetIndex].data[elements[0].index];
            if (point.session) { window.location.href = "/sessions/" + point.session; }
          }
        }
      }
    });
    window.datacatCharts[canvas.id] = chart;
  }

  // A release's crash-free % per day (Releases page): a bare line, days and values in
  // the tooltip; the y axis is fixed at 0..100 so sparklines compare across rows.
  function drawSparkline(canvas) {
    var source = document.getElementById(canvas.dataset.sparkline);
    if (!source || typeof Chart === "undefined") { return; }
    var spark = JSON.parse(source.textContent);
    var previous = window.datacatCharts[canvas.id];
    if (previous) { previous.destroy(); }
    window.datacatCharts[canvas.id] = new Chart(canvas, {
      type: "line",
      data: {
        labels: spark.days,
        datasets: [{
          label: spark.name,
          data: spark.values,
          borderColor: colour("--accent"),
          backgroundColor: colour("--accent"),
          pointRadius: spark.values.length > 1 ? 0 : 2,
          borderWidth: 1.5,
          tension: 0
        }]
      },
      options: {
        animation: false,
        responsive: false,
        plugins: { legend: { display: false } },
        scales: { x: { display: false }, y: { display: false, min: 0, max: 100 } }
      }
    });
  }

  function drawAll(root) {
    if (!root || !root.querySelectorAll) { return; }
    if (root.matches && root.matches("canvas[data-chart]")) { draw(root); }
    root.querySelectorAll("canvas[data-chart]").forEach(draw);
    root.querySelectorAll("canvas[data-sparkline]").forEach(drawSparkline);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:load", function (event) { drawAll(event.detail.elt); });
})();
