// Draws every chart on the page from its data-chart attribute with ECharts, loaded from static/vendor by app.js
// before this file. No inline script: the CSP forbids it. The JSON's kind says which chart:
// - none: the daily trend (days; GMV and discount bars, orders as a line), app/insight/sales.py
// - "margin": the finance margin report (group names; net revenue and gross margin bars, margin % as a line),
//   app/insight/margin.py
// - "pie": named slices
(() => {
  // Two bar series on the left axis (¥) and one line on the right one.
  const barsAndLine = (chart, x, bars, line, lineAxis, xLabel) => {
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: [line.name, ...bars.map((b) => b.name)] },
      xAxis: { type: "category", data: x, axisLabel: xLabel },
      yAxis: [{ type: "value", name: "¥" }, { type: "value", ...lineAxis }],
      series: [...bars.map((b) => ({ ...b, type: "bar" })), { ...line, type: "line", yAxisIndex: 1 }],
    });
  };
  const kinds = {
    pie: (chart, data) => chart.setOption({
      tooltip: { trigger: "item" },
      legend: { bottom: 0 },
      series: [{ name: data.title, type: "pie", radius: ["35%", "65%"], data: data.slices }],
    }),
    margin: (chart, data) => barsAndLine(chart, data.names,
      [{ name: data.labels.net, data: data.net }, { name: data.labels.margin, data: data.margin }],
      { name: data.labels.pct, data: data.pct }, { name: "%" }, { interval: 0, rotate: 30 }),
    trend: (chart, data) => barsAndLine(chart, data.days,
      [{ name: data.labels.gmv, data: data.gmv }, { name: data.labels.discount, data: data.discount }],
      { name: data.labels.orders, data: data.orders }, { minInterval: 1 }, {}),
  };
  const draw = () => {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]:not([data-drawn])").forEach((el) => {
      const data = JSON.parse(el.dataset.chart);
      el.dataset.drawn = "1";
      const chart = window.echarts.init(el);
      kinds[data.kind || "trend"](chart, data);
      // follows its box: the page may still be laying out when it is drawn, and phones rotate
      new ResizeObserver(() => chart.resize()).observe(el);
    });
  };
  draw();
  document.addEventListener("htmx:afterSettle", draw);
})();
