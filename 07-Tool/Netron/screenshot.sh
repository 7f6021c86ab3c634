#!/bin/bash
# Not run by command.sh: how netron.png was made, headless (no display). Needs `pip install netron` and Chromium
# (`apt-get install chromium`). Run `bash command.sh` first (it writes model.onnx), then `bash screenshot.sh`.
set -euo pipefail
cd "$(dirname "$0")"
MODEL=${1:-model.onnx}
PORT=${PORT:-8081}
WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# A copy of the installed netron with two changes for a browser nobody clicks in: no cookie-consent dialog, and the
# graph laid out in the page instead of a web worker (the headless run's virtual time does not wait for the worker).
cp -r "$(python3 -c 'import netron, os; print(os.path.dirname(netron.__file__))')" "$WORK/netron"
sed -i "s/if (this._getCookie('consent') || this._getCookie('_ga')) {/if (true) {/" "$WORK/netron/browser.js"
sed -i "s/return this._environment\[name\];/return name === 'serial' ? true : this._environment[name];/" \
    "$WORK/netron/browser.js"

PYTHONPATH="$WORK" python3 -c "import sys, time, netron; netron.start(sys.argv[1], address=('127.0.0.1', $PORT), \
browse=False); time.sleep(120)" "$MODEL" &
SERVER=$!
sleep 5
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1.5 --window-size=360,580 \
    --virtual-time-budget=20000 --screenshot="$PWD/netron.png" "http://127.0.0.1:$PORT/"
echo "wrote netron.png"
