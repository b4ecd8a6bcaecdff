#!/usr/bin/env bash
# Where does the gateway's time go under load? py-spy samples the granian worker while wrk drives
# the same request as bench/gateway/run.sh; prints the inclusive share of the main stages.
# Usage: bench/gateway/profile.sh [seconds] [py-spy binary]   (pip install py-spy if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-8}"; spy="${2:-py-spy}"; py=.venv/bin/python
dir=$(mktemp -d); up=18911; gw=18913; rport=18915
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
$py bench/gateway/setup.py "$dir" "$up" 18912
token=$(cat "$dir/token"); url="http://127.0.0.1:$gw/v1/quote-to-cash/runs/q2c-0068d00000DEMO1AAA"
redis=$($py -c 'from servicekit import find_redis_server; print(find_redis_server())')
taskset -c 1 "$redis" --port "$rport" --save '' --appendonly no >/dev/null 2>&1 & pids+=($!)
taskset -c 1 haproxy -db -f "$dir/upstream.cfg" >/dev/null 2>&1 & pids+=($!)
FIG_PORT=$gw FIG_REDIS_URL="redis://127.0.0.1:$rport/0" FIG_IDP_URL="http://127.0.0.1:$up" \
FIG_TOKEN_ISSUER=http://bench.issuer FIG_UPSTREAM_AUDIENCE= FIG_PROCESS_URL="http://127.0.0.1:$up" FIG_CONFIG_PATH="$dir/gateway.toml" \
FIG_APP_FACTORY=gateway.entry:create_entry FIG_LOG_LEVEL=WARNING taskset -c 0 $py -m granian --interface asgi --factory --workers 1 --port $gw \
  --log-level warning --no-ws servicekit.server:tuned_app >"$dir/gateway.log" 2>&1 & pids+=($!); gpid=$!
for _ in $(seq 100); do curl -fs -o /dev/null -H "Authorization: Bearer $token" "$url" && break; sleep 0.2; done
taskset -c 1 wrk -t1 -c32 -d"$((secs + 4))s" -H "Authorization: Bearer $token" "$url" >"$dir/wrk.txt" &
sleep 2
"$spy" record --subprocesses --nonblocking --format raw ${SPY_FLAGS:-} -r 200 -d "$secs" -o "$dir/stacks.txt" --pid "$gpid" >/dev/null 2>&1
wait %4 2>/dev/null || sleep 3
grep "Requests/sec" "$dir/wrk.txt" || true
cp "$dir/stacks.txt" "${SPY_KEEP:-/dev/null}"
$py - "$dir/stacks.txt" <<'PY'
import collections, sys
# Each sample is charged to the innermost frame that belongs to a known component.
components = [
    ("JWT / PyJWT / cryptography", ("jwt/", "cryptography/")),
    ("request validation (jsonschema-rs)", ("gateway/validation.py",)),
    ("policies (gateway/policies)", ("gateway/policies/",)),
    ("Redis client (redis-py + batcher)", ("redis/", "gateway/redisbatch.py")),
    ("forwarding client (aiohttp)", ("aiohttp/", "yarl/", "multidict/", "gateway/upstreams.py")),
    ("proxy core (route, headers, relay)", ("gateway/",)),
    ("OpenTelemetry span", ("opentelemetry/",)),
    ("servicekit middleware", ("servicekit/",)),
    ("Litestar (app, middleware, routing)", ("litestar/",)),
    ("event loop (asyncio)", ("asyncio/", "selectors.py")),
]
total = 0
charged: collections.Counter[str] = collections.Counter()
for line in open(sys.argv[1]):
    stack, _, count = line.rstrip().rpartition(" ")
    n = int(count)
    total += n
    frames = [f for f in stack.split(";") if not f.startswith("process ")]
    label = "no Python frame (granian's Rust side, GIL released, idle)" if not frames else "other Python"
    for frame in reversed(frames):
        hit = next((name for name, needles in components if any(x in frame for x in needles)), None)
        if hit:
            label = hit
            break
    charged[label] += n
print(f"samples: {total}")
for label, n in charged.most_common():
    print(f"  {100 * n / total:5.1f}%  {label}")
PY
