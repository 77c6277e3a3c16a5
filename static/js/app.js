// Copy-to-clipboard for revealed codes; works after HTMX swaps because it listens on document.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = document.getElementById(button.dataset.copy)?.textContent?.trim() || "";
  const done = () => { button.textContent = button.dataset.copied || "✓"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, done);
  } else {
    const area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } finally { area.remove(); }
    done();
  }
});

// Behaviour the templates ask for with data- attributes (the CSP allows no inline script or handler).
// Listeners sit on document, so they work after HTMX swaps too.
document.addEventListener("click", (event) => {
  const burger = event.target.closest(".navbar-burger[data-target]");
  if (burger) {
    burger.classList.toggle("is-active");
    document.getElementById(burger.dataset.target)?.classList.toggle("is-active");
    burger.setAttribute("aria-expanded", burger.classList.contains("is-active") ? "true" : "false");
  }
  if (event.target.closest("[data-print]")) window.print();
  const field = event.target.closest("[data-select-all]");
  if (field) field.select();
});
document.addEventListener("focusin", (event) => {
  const field = event.target.closest("[data-select-all]");
  if (field) field.select();
});
// A form with data-confirm is sent only once the question is answered yes.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// Charts: an element with data-chart-loader lists the scripts that draw it (ECharts, then static/js/chart.js);
// they are loaded once, in order, when such a page is shown (also after a boosted navigation).
// Several sections of one page may each bring their loader (the dashboard's sales and operations halves).
const loadChartScripts = () => {
  for (const el of document.querySelectorAll("[data-chart-loader]")) {
    for (const src of el.dataset.chartLoader.split(" ")) {
      if (document.querySelector(`script[src="${src}"]`)) continue;
      const script = document.createElement("script");
      script.src = src;
      script.async = false;
      document.head.appendChild(script);
    }
  }
};
document.addEventListener("DOMContentLoaded", loadChartScripts);
document.addEventListener("htmx:afterSettle", loadChartScripts);
