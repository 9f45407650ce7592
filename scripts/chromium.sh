#!/usr/bin/env bash
# The browser tests drive Debian's Chromium; install it if it is missing (no browser downloads),
# and a Korean font if there is none (Korean text would render as boxes in the screenshots).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ! command -v fc-list >/dev/null || [ -z "$(fc-list :lang=ko family)" ]; then missing+=(fonts-nanum); fi
# Emoji in reactions: without a colour emoji font the screenshots show boxes.
if ! command -v fc-list >/dev/null || [ -z "$(fc-list | grep -i 'color emoji')" ]; then missing+=(fonts-noto-color-emoji); fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing ${missing[*]} (Debian packages) for the browser tests"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
