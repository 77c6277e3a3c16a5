// Flash sale countdowns (templates/consumer/flash_sale.html). An element with data-flash-starts-in (ms until
// the start, as the server counted it when it rendered the page) counts down; at zero it fires "flash-start"
// (bubbling: the polled status block asks the server at once, and gets the buy button), the document event
// "flash:started", and marks <html data-flash-started> for whoever looks later. Listens on document, so it
// works after HTMX swaps too (no inline script: CSP).
(() => {
  const two = (n) => String(n).padStart(2, "0");
  const format = (ms) => {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    return (d ? `${d}d ` : "") + `${two(h)}:${two(m)}:${two(s % 60)}`;
  };
  const started = new WeakSet();
  const countDown = (el) => {
    if (started.has(el)) return;
    started.add(el);
    const end = Date.now() + Number(el.dataset.flashStartsIn || 0);
    const tick = () => {
      if (!el.isConnected) return clearInterval(timer);
      const left = end - Date.now();
      el.textContent = format(left);
      if (left > 0) return;
      clearInterval(timer);
      document.documentElement.dataset.flashStarted = el.dataset.sale || "";
      el.dispatchEvent(new CustomEvent("flash-start", { bubbles: true }));
      document.dispatchEvent(new CustomEvent("flash:started", { detail: { sale: el.dataset.sale } }));
    };
    const timer = setInterval(tick, 200);
    tick();
  };
  const scan = (root) => {
    if (root.matches?.("[data-flash-starts-in]")) countDown(root);
    root.querySelectorAll?.("[data-flash-starts-in]").forEach(countDown);
  };
  document.addEventListener("DOMContentLoaded", () => scan(document));
  document.addEventListener("htmx:load", (event) => scan(event.target));
})();
