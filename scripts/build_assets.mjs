// Copies the vendored front-end packages from node_modules into static/vendor (not committed).
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "static", "vendor");
mkdirSync(out, { recursive: true });
const files = [
  ["node_modules/htmx.org/dist/htmx.min.js", "htmx.min.js"],
  ["node_modules/bulma/css/bulma.min.css", "bulma.min.css"],
  ["node_modules/echarts/dist/echarts.min.js", "echarts.min.js"],
];
for (const [src, dst] of files) {
  cpSync(join(root, src), join(out, dst));
  console.log(`static/vendor/${dst}`);
}
