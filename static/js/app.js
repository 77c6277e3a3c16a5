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
