#!/usr/bin/env bash
# Which ASGI server should run the services? uvicorn vs granian, one worker each, on the same
# representative servicekit app. Server pinned to core 0, wrk (Debian package) to core 1.
# Usage: bench/asgi_servers.sh [seconds]   (needs: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"; port=18777; py=.venv/bin/python
command -v wrk >/dev/null || { echo "install wrk: apt-get install -y wrk" >&2; exit 1; }
run() {
  local name="$1"; shift
  taskset -c 0 "$@" >/dev/null 2>&1 & local pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break; sleep 0.2; done
  taskset -c 1 wrk -t1 -c32 -d2s "http://127.0.0.1:$port/v1/opportunities/006x" >/dev/null  # warm-up
  local out; out=$(taskset -c 1 wrk -t1 -c32 -d"${secs}s" --latency "http://127.0.0.1:$port/v1/opportunities/006x")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '| %-8s | %10s | %8s | %8s |\n' "$name" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
    "$(awk '$1=="50%"{print $2}' <<<"$out")" "$(awk '$1=="99%"{print $2}' <<<"$out")"
}
echo "| server   | requests/s |      p50 |      p99 |"
echo "|----------|-----------:|---------:|---------:|"
run uvicorn $py -m uvicorn bench.asgi_app:app --port $port --log-level warning --no-access-log
run granian $py -m granian --interface asgi --port $port --workers 1 --log-level warning --no-ws bench.asgi_app:app
