#!/usr/bin/env bash
# Starts the built vgpud (three demo vGPUs, the desktop direct-flipped to a virtual monitor's
# Virtual-1, the dashboard and the VNC servers on free ports, its socket in a temporary
# XDG_RUNTIME_DIR), then drives the dashboard in chromium (dashboard.mjs).
# usage: run_dashboard.sh <vgpud> <web dir> <artifact dir>; exit 77 (skip) without the browser.
set -euo pipefail
vgpud=$1 web=$2 artifacts=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
[[ -x /usr/bin/chromium ]] || skip "no /usr/bin/chromium (scripts/install-deps installs it)"
command -v node >/dev/null || skip "no node (scripts/install-deps installs nodejs)"
[[ -d $web/node_modules/playwright-core ]] || skip "no $web/node_modules/playwright-core (run scripts/install-deps)"

tmp=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/vgpud.toml" <<'TOML'
[web]
port = 0       # any free port: read back from the log
[vnc]
base_port = 0  # the same; /api/vgpus and /api/outputs tell the page each view's port

# The three demo guests, the desktop direct-flipped to a virtual monitor output of its own mode
# (an import, pixel for pixel): the page's output card must show it.
[[vgpu]]
workload = "desktop"
direct_flip = { output = "Virtual-1" }
[[vgpu]]
workload = "console"
[[vgpu]]
workload = "video"

[host_display]
backend = "virtual"
outputs = [{ name = "Virtual-1", width = 1024, height = 768 }, { name = "Virtual-2", width = 1024, height = 768 }]
TOML
XDG_RUNTIME_DIR=$tmp "$vgpud" -c "$tmp/vgpud.toml" 2>"$tmp/vgpud.log" >"$tmp/vgpud.out" &
pid=$!

url=
for _ in $(seq 100); do
  # What a user opens: the URL with the access token vgpud made up, printed on stdout.
  url=$(grep -o 'dashboard: http://[^ ]*?token=[0-9a-f]*' "$tmp/vgpud.out" | head -1 | cut -d' ' -f2 || true)
  [[ -n $url ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "FAIL: vgpud did not print its dashboard's login URL"; cat "$tmp/vgpud.out" "$tmp/vgpud.log"; exit 1
fi
echo "dashboard at ${url%%\?*} (with its token)"
mkdir -p "$artifacts"
rc=0
node "$here/dashboard.mjs" "$url" "$web" "$artifacts/dashboard.png" || rc=$?
if ((rc == 1)); then echo "--- vgpud log"; tail -40 "$tmp/vgpud.log"; fi
exit "$rc"
