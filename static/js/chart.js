// Draws every chart on the page from its data-chart attribute (JSON: days, series values and their labels;
// or kind "pie" with named slices)
// with ECharts, loaded from static/vendor by app.js before this file. No inline script: the CSP forbids it.
(() => {
  const draw = () => {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]:not([data-drawn])").forEach((el) => {
      const data = JSON.parse(el.dataset.chart);
      el.dataset.drawn = "1";
      const chart = window.echarts.init(el);
      if (data.kind === "pie") {
        chart.setOption({
          tooltip: { trigger: "item" },
          legend: { bottom: 0 },
          series: [{ name: data.title, type: "pie", radius: ["35%", "65%"], data: data.slices }],
        });
        new ResizeObserver(() => chart.resize()).observe(el);
        return;
      }
      chart.setOption({
        tooltip: { trigger: "axis" },
        legend: { data: [data.labels.orders, data.labels.gmv, data.labels.discount] },
        xAxis: { type: "category", data: data.days },
        yAxis: [{ type: "value", name: "¥" }, { type: "value", minInterval: 1 }],
        series: [
          { name: data.labels.gmv, type: "bar", data: data.gmv },
          { name: data.labels.discount, type: "bar", data: data.discount },
          { name: data.labels.orders, type: "line", yAxisIndex: 1, data: data.orders },
        ],
      });
      // follows its box: the page may still be laying out when it is drawn, and phones rotate
      new ResizeObserver(() => chart.resize()).observe(el);
    });
  };
  draw();
  document.addEventListener("htmx:afterSettle", draw);
})();
