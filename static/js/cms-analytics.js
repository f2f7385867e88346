// The analytics panel on the CMS home: draws its charts with the vendored Chart.js (global
// `Chart`) from the figures the server put in <script type="application/json"
// id="analytics-chart-data">. The same figures are in tables next to each canvas, so nothing
// is lost when this script or the canvas is unavailable.
(function () {
  "use strict";

  // One colour per appointment status, the same every day so the stacks read at a glance.
  var STATUS_COLOURS = {
    completed: "#2e7d32",
    confirmed: "#1565c0",
    pending: "#f9a825",
    no_show: "#6a1b9a",
    cancelled: "#c62828",
    rescheduled: "#9e9e9e",
  };
  var ACCENT = "#007d7e";

  function integerAxis(stacked) {
    return { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } };
  }

  var builders = {
    daily: function (data) {
      return {
        type: "bar",
        data: {
          labels: data.display,
          datasets: data.datasets.map(function (set) {
            return {
              label: set.label,
              data: set.data,
              backgroundColor: STATUS_COLOURS[set.status] || ACCENT,
              stack: "appointments",
            };
          }),
        },
        options: {
          scales: { x: { stacked: true }, y: integerAxis(true) },
          plugins: { legend: { position: "bottom" } },
        },
      };
    },
    specialties: function (data) {
      return {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: [{ label: "", data: data.data, backgroundColor: ACCENT }],
        },
        options: {
          indexAxis: "y",
          scales: { x: integerAxis(false) },
          plugins: { legend: { display: false } },
        },
      };
    },
    patients: function (data) {
      return {
        type: "line",
        data: {
          labels: data.display,
          datasets: [{ label: "", data: data.data, borderColor: ACCENT, backgroundColor: ACCENT, tension: 0.2 }],
        },
        options: {
          scales: { y: integerAxis(false) },
          plugins: { legend: { display: false } },
        },
      };
    },
  };

  function drawCharts() {
    var source = document.getElementById("analytics-chart-data");
    if (!source || typeof window.Chart === "undefined") {
      return;
    }
    var figures = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var build = builders[canvas.dataset.chart];
      var data = figures[canvas.dataset.chart];
      if (!build || !data || Chart.getChart(canvas)) {
        return;
      }
      var config = build(data);
      config.options.responsive = true;
      config.options.maintainAspectRatio = false;
      config.options.animation = window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : { duration: 300 };
      new Chart(canvas, config);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawCharts);
  } else {
    drawCharts();
  }
})();
