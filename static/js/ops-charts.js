// Draws every element with data-echarts (a complete ECharts option, as JSON, built by the server) with ECharts,
// loaded from static/vendor by app.js before this file. No inline script: the CSP forbids it.
(() => {
  const draw = () => {
    if (!window.echarts) return;
    document.querySelectorAll("[data-echarts]:not([data-drawn])").forEach((el) => {
      el.dataset.drawn = "1";
      const chart = window.echarts.init(el);
      const option = JSON.parse(el.dataset.echarts);
      // an HTML tooltip carries style attributes, which the CSP refuses: draw it on the canvas instead
      if (option.tooltip) option.tooltip.renderMode = "richText";
      chart.setOption(option);
      new ResizeObserver(() => chart.resize()).observe(el);
    });
  };
  draw();
  document.addEventListener("htmx:afterSettle", draw);
})();
