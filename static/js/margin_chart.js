// Draws the finance margin report's chart from its data-margin-chart attribute (JSON: group names, net revenue,
// gross margin and margin % per group, and their labels) with ECharts, loaded from static/vendor by app.js
// before this file. No inline script: the CSP forbids it.
(() => {
  const draw = () => {
    if (!window.echarts) return;
    document.querySelectorAll("[data-margin-chart]:not([data-drawn])").forEach((el) => {
      const data = JSON.parse(el.dataset.marginChart);
      el.dataset.drawn = "1";
      const chart = window.echarts.init(el);
      chart.setOption({
        tooltip: { trigger: "axis" },
        legend: { data: [data.labels.net, data.labels.margin, data.labels.pct] },
        xAxis: { type: "category", data: data.names, axisLabel: { interval: 0, rotate: 30 } },
        yAxis: [{ type: "value", name: "¥" }, { type: "value", name: "%" }],
        series: [
          { name: data.labels.net, type: "bar", data: data.net },
          { name: data.labels.margin, type: "bar", data: data.margin },
          { name: data.labels.pct, type: "line", yAxisIndex: 1, data: data.pct },
        ],
      });
      new ResizeObserver(() => chart.resize()).observe(el);
    });
  };
  draw();
  document.addEventListener("htmx:afterSettle", draw);
})();
