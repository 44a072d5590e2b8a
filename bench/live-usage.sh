#!/usr/bin/env bash
# Live usage (issue 22): what the dashboards' 5-second usage polling costs the Docker engine and
# the hub as the number of open dashboards grows. A release hub runs N servers (one per user,
# ganymede/base, small); for each number of open dashboards (0, 1, then V, spread over the users)
# every dashboard polls `my_usage` every 5 s, as the page does, for a window of S seconds, and the
# engine's CPU time (dockerd, containerd and the shims) and the hub's are read from /proc before
# and after. The engine's cost must not grow with the number of dashboards: the last line prints
# its ratio between V dashboards and one. Needs the Docker engine and ganymede/base
# (scripts/setup.sh run).
#
#   bench/live-usage.sh [--servers N] [--viewers V] [--seconds S]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
servers=10 viewers=20 seconds=30
while [ $# -gt 0 ]; do
  case "$1" in
    --servers) servers="$2"; shift 2 ;;
    --viewers) viewers="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: $0 [--servers N] [--viewers V] [--seconds S]" >&2; exit 2 ;;
  esac
done
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
"$root/scripts/setup.sh" run >/dev/null
cargo build --release --locked -p server --bin ganymede
"$root/scripts/build-site.sh" --release >/dev/null
. "$root/bench/hub.sh"
bench_hub ganymede-livebench
for i in $(seq 1 "$servers"); do
  echo 'bench-password-1' | "$bin/ganymede" user add "live$i" --password-stdin >/dev/null
done
bench_serve

echo "Live usage polling — $servers servers, $(nproc) cores, $(date -u +%Y-%m-%d)"
python3 - "$hub" "$hub_pid" "$servers" "$viewers" "$seconds" <<'PY'
import os, re, sys, threading, time, urllib.request

hub, hub_pid, servers, viewers, seconds = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:])
tick = os.sysconf("SC_CLK_TCK")

def post(path, data, cookie=None):
    req = urllib.request.Request(hub + path, data=data.encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    if cookie:
        req.add_header("Cookie", cookie)
    return urllib.request.urlopen(req, timeout=120)

cookies = []
for i in range(1, servers + 1):
    with post("/hub/fn/login", f"username=live{i}&password=bench-password-1") as r:
        m = re.search(r"ganymede-session=([^;]+)", r.headers.get("Set-Cookie", ""))
        cookies.append(f"ganymede-session={m.group(1)}")
for c in cookies:
    post("/hub/fn/start_server", "flavour=base&size=small&name=", c).read()
for i, c in enumerate(cookies, 1):
    req = urllib.request.Request(f"{hub}/hub/api/users/live{i}/server/progress", headers={"Cookie": c})
    with urllib.request.urlopen(req, timeout=300) as r:
        if b'"ready":true' not in r.read():
            sys.exit(f"live{i}'s server did not become ready")

def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / tick

def engine_pids():
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = open(f"/proc/{pid}/comm").read().strip()
        except OSError:
            continue
        if comm in ("dockerd", "containerd") or comm.startswith("containerd-shim"):
            out.append(pid)
    return out

def window(n):
    stop = time.monotonic() + seconds
    polls, lat = [], threading.Lock()
    def dashboard(cookie, offset):
        time.sleep(offset)
        while time.monotonic() < stop:
            t = time.monotonic()
            with post("/hub/fn/my_usage", "", cookie) as r:
                body = r.read()
            with lat:
                polls.append((time.monotonic() - t, len(re.findall(rb'"cpu_percent":[0-9]', body))))
            time.sleep(max(0.0, 5.0 - (time.monotonic() - t)))
    engine = engine_pids()
    e0, h0 = cpu_seconds(engine), cpu_seconds([hub_pid])
    threads = [threading.Thread(target=dashboard, args=(cookies[k % len(cookies)], 5.0 * k / max(n, 1)))
               for k in range(n)]
    for t in threads: t.start()
    if not threads: time.sleep(seconds)
    for t in threads: t.join()
    e1, h1 = cpu_seconds(engine), cpu_seconds([hub_pid])
    lats = sorted(p[0] for p in polls)
    p50 = lats[len(lats) // 2] * 1000 if lats else 0.0
    with_usage = sum(p[1] for p in polls)
    return e1 - e0, h1 - h0, len(polls), with_usage, p50

time.sleep(10)  # let the starts' own engine work settle
print(f"| open dashboards | polls | server readings served | p50 ms | engine CPU s / {seconds} s | hub CPU s / {seconds} s |")
print("|---:|---:|---:|---:|---:|---:|")
results = {}
for n in (0, 1, viewers):
    engine, hubcpu, polls, with_usage, p50 = window(n)
    results[n] = engine
    print(f"| {n} | {polls} | {with_usage} | {p50:.1f} | {engine:.2f} | {hubcpu:.2f} |", flush=True)
    time.sleep(35)  # past the 30 s view window, so the next one starts from no viewer
extra_one = results[1] - results[0]
extra_many = results[viewers] - results[0]
print()
print(f"engine CPU above idle: 1 dashboard {extra_one:.2f} s, {viewers} dashboards {extra_many:.2f} s "
      f"({extra_many / extra_one:.2f}x for {viewers}x the dashboards)" if extra_one > 0 else
      f"engine CPU above idle: 1 dashboard {extra_one:.2f} s, {viewers} dashboards {extra_many:.2f} s")
PY
