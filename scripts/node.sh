#!/usr/bin/env bash
# make lint checks the browser code with Biome, installed from the npm registry into ./node_modules;
# that needs node and npm. Install Debian's packages if they are missing (like chromium.sh).
set -euo pipefail
if command -v node >/dev/null && command -v npm >/dev/null; then exit 0; fi
echo "installing nodejs and npm (Debian packages) for the JavaScript linter"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q nodejs npm >/dev/null
