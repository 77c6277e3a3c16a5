#!/usr/bin/env bash
# The Debian packages the test suite needs beyond Python and Node: Chromium for the browser tests, the Noto
# CJK fonts and Pango for the statements' PDFs (WeasyPrint), poppler-utils (pdftotext) to read them back.
# One list, used by `make test` and by .ci/run.
#
#   scripts/system-packages.sh          install what is missing (as root with apt-get), or say how and fail
#   scripts/system-packages.sh --list   print the list
set -euo pipefail

PACKAGES=(chromium fonts-noto-cjk make poppler-utils libpango-1.0-0 libpangoft2-1.0-0)

if [[ "${1:-}" == "--list" ]]; then
  echo "${PACKAGES[*]}"
  exit 0
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if ! command -v dpkg-query >/dev/null; then
  # Not Debian: check for the programs themselves.
  if [[ -x /usr/bin/chromium ]] && command -v pdftotext >/dev/null; then exit 0; fi
  echo "The tests need Chromium at /usr/bin/chromium, pdftotext (poppler), Pango and the Noto CJK fonts." >&2
  echo "Install them with your system's package manager, then run make test again." >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

command_line="apt-get update && apt-get install -y ${missing[*]}"
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "installing the system packages the tests need: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  echo "installing the system packages the tests need (sudo): ${missing[*]}"
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "The tests need these Debian packages, which are not installed: ${missing[*]}" >&2
echo "Install them as root, then run make test again:" >&2
echo "  $command_line" >&2
exit 1
