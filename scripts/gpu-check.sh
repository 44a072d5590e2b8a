#!/usr/bin/env bash
# The GPU machine check of issue 11, run through the `device` tool on a machine with NVIDIA GPUs,
# NVML and nvidia-smi but no Docker. It builds nothing there: carry a release binary built here.
#
#   here:   cargo build --release -p server
#   device: run(command="scripts/gpu-check.sh", carry=["target/release/ganymede"], timeout_s=300)
#
# It checks, and writes a report to $OUT/gpu-check.txt (save it under docs/):
#   1. `ganymede gpus --json` finds the GPUs through NVML and lists the UUIDs nvidia-smi lists;
#   2. a GPU server started with the local spawner sees exactly its allocated GPU: a stand-in for
#      `jupyter lab` (Python, answers the hub's readiness probe) asks the CUDA driver (libcuda,
#      which honours CUDA_VISIBLE_DEVICES) which devices it sees, and records nvidia-smi -L;
#   3. a second GPU request waits in the queue when no GPU is free.
# It only reads GPU state; it never changes MIG or any other GPU setting.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release/ganymede"
out="${OUT:-/tmp}/gpu-check.txt"
work="$(mktemp -d)"
exec > >(tee "$out") 2>&1
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$bin" ] || fail "no $bin (carry target/release/ganymede)"
command -v nvidia-smi >/dev/null || fail "no nvidia-smi on this machine"
command -v python3 >/dev/null || fail "no python3 on this machine"

echo "== nvidia-smi -L"; nvidia-smi -L
mkdir -p "$work/data"
cd "$work"
cat > ganymede.toml <<TOML
[hub]
data_dir = "$work/data"
bind = "127.0.0.1:18765"

[servers]
gpu_discovery = "auto"

[spawner]
kind = "local"

[[flavours]]
id = "probe"
display_name = "GPU probe"
environment = "$work/env"
kind = "jupyterlab"

[[sizes]]
id = "gpu-1"
display_name = "1 GPU"
cpu = 1.0
memory_mib = 4096
gpus = 1
TOML

echo "== 1. ganymede gpus --json"
"$bin" gpus --json | tee gpus.json
python3 - <<'PY' || fail "the inventory does not match nvidia-smi"
import json, subprocess
report = json.load(open("gpus.json"))
smi = subprocess.run(["nvidia-smi", "--query-gpu=uuid,mig.mode.current", "--format=csv,noheader"],
                     capture_output=True, text=True, check=True).stdout.split("\n")
whole = {l.split(",")[0].strip() for l in smi if l.strip() and "Enabled" not in l}
units = {u["uuid"] for u in report["units"] if not u.get("mig_profile")}
print("source:", report["source"], "| nvidia-smi GPUs without MIG:", sorted(whole), "| hub:", sorted(units))
assert report["source"] == "nvml", report["source"]
assert whole == units, (whole, units)
PY

echo "== 2. a GPU server sees exactly its GPU"
mkdir -p env/bin
cat > env/bin/jupyter <<'PY'
#!/usr/bin/env python3
# Stands in for `jupyter lab`: records what the CUDA driver shows this process, then answers
# GET {base_url}api/status as Jupyter would.
import ctypes, http.server, os, subprocess, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[2:] if a.startswith("--") and "=" in a)
port, base = int(args["port"]), args["ServerApp.base_url"]
seen = []
try:
    cuda = ctypes.CDLL("libcuda.so.1")
    assert cuda.cuInit(0) == 0
    n = ctypes.c_int()
    assert cuda.cuDeviceGetCount(ctypes.byref(n)) == 0
    for i in range(n.value):
        dev, raw = ctypes.c_int(), (ctypes.c_ubyte * 16)()
        cuda.cuDeviceGet(ctypes.byref(dev), i)
        cuda.cuDeviceGetUuid(raw, dev)
        h = bytes(raw).hex()
        seen.append(f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
except Exception as e:
    seen.append(f"error: {e}")
listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
with open(os.path.join(os.environ["HOME"], "probe.txt"), "w") as f:
    f.write(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}\n")
    f.write(f"NVIDIA_VISIBLE_DEVICES={os.environ.get('NVIDIA_VISIBLE_DEVICES')}\n")
    f.write("cuda sees: " + " ".join(seen) + "\n")
    f.write("nvidia-smi -L (lists every GPU of the host; not restricted for a local process):\n" + listing)
class Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == base + "api/status"
        self.send_response(200 if ok else 404); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), Status).serve_forever()
PY
chmod +x env/bin/jupyter
echo 'gpu-check-password' | "$bin" user add probe --admin --password-stdin >/dev/null
echo 'gpu-check-password' | "$bin" user add second --password-stdin >/dev/null
"$bin" serve > hub.log 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null || true; pkill -f "$work/env/bin/jupyter" || true' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18765/hub/health >/dev/null && break; sleep 0.2; done
session() {
  curl -si -X POST -d "username=$1&password=gpu-check-password" http://127.0.0.1:18765/hub/fn/login \
    | sed -n 's/^set-cookie: ganymede-session=\([^;]*\);.*/\1/Ip' | tr -d '\r'
}
probe=$(session probe); second=$(session second)
curl -fs -o /dev/null -X POST -H "cookie: ganymede-session=$probe" -d 'flavour=probe&size=gpu-1' \
  http://127.0.0.1:18765/hub/fn/start_server || fail "the start was refused"
for _ in $(seq 1 150); do [ -f "$work/data/homes/probe/probe.txt" ] && break; sleep 0.2; done
cat "$work/data/homes/probe/probe.txt" || fail "the server never ran (hub.log: $(tail -5 hub.log))"
held=$("$bin" gpus --json | python3 -c 'import json,sys; print(" ".join(u["uuid"] for u in json.load(sys.stdin)["units"] if u["held_by"]))')
echo "ledger: $held"
grep -q "^cuda sees: $held\$" "$work/data/homes/probe/probe.txt" || fail "CUDA does not see exactly the allocated GPU ($held)"

echo "== 3. a second GPU request queues while no GPU is free"
free=$("$bin" gpus --json | python3 -c 'import json,sys; print(sum(1 for u in json.load(sys.stdin)["units"] if not u["held_by"] and not u["fault"] and not u.get("mig_profile")))')
echo "free whole GPUs: $free"
for _ in $(seq 1 "$free"); do
  curl -fs -o /dev/null -X POST -H "cookie: ganymede-session=$probe" -d "flavour=probe&size=gpu-1&name=fill$RANDOM" \
    http://127.0.0.1:18765/hub/fn/start_server
done
curl -fs -o /dev/null -X POST -H "cookie: ganymede-session=$second" -d 'flavour=probe&size=gpu-1' \
  http://127.0.0.1:18765/hub/fn/start_server || fail "the second start was refused"
curl -fs -H "cookie: ganymede-session=$second" http://127.0.0.1:18765/hub/api/users/second | tee second.json
python3 -c 'import json; s=json.load(open("second.json"))["servers"][""]; assert s["pending"] == "queued", s' \
  || fail "the second request did not queue"
echo "PASS: inventory matches nvidia-smi; the server sees exactly its GPU; the next request queues"
