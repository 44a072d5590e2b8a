# Shared by bench/run.sh and bench/wrk.sh (sourced, with `root` set and the working directory
# at the repository root): builds the hub exactly as scripts/run.sh does and the measuring
# client, starts the hub on a free port with a fresh data directory, signs `bench` in, starts its
# JupyterLab (ganymede/base, medium) and puts 1 MiB and 10 MiB files in its home. Leaves `hub`
# (the hub's URL), `session`, `direct` (Jupyter's own address), `token` (Jupyter's token),
# `hub_pid` and `work` set, and a trap that removes everything on exit.

# The hub exactly as scripts/run.sh builds it, then the measuring client.
cargo build --release --locked -p server --bin ganymede
"$root/scripts/build-site.sh" --release
cargo build --release -p ganymede-bench
. "$root/bench/hub.sh"
bench_hub ganymede-bench
echo 'bench-password-1' | "$bin/ganymede" user add bench --password-stdin >/dev/null
bench_serve
session=$(curl -si -X POST -d 'username=bench&password=bench-password-1' "$hub/hub/fn/login" \
  | sed -n 's/^set-cookie: ganymede-session=\([^;]*\);.*/\1/Ip' | tr -d '\r')
curl -fs -o /dev/null -X POST -H "cookie: ganymede-session=$session" -d 'flavour=base&size=medium' "$hub/hub/fn/start_server"
curl -fsN -H "cookie: ganymede-session=$session" "$hub/hub/api/users/bench/server/progress" | grep -q '"ready":true'

# The direct address and Jupyter's token, as the hub knows them.
read -r direct token < <(python3 - "$work/data" <<'PY'
import hashlib, json, sqlite3, sys
data = sys.argv[1]
secret = open(f"{data}/hub_secret").read().strip()
state, url = sqlite3.connect(f"{data}/ganymede.db").execute(
    "SELECT spawner_state, url FROM servers WHERE status = 'running'").fetchone()
nonce = json.loads(state)["token_nonce"]
upstream = json.loads(url)  # the typed upstream: {"scheme", "host", "port"}
print(f"{upstream['scheme']}://{upstream['host']}:{upstream['port']}",
      hashlib.sha256(f"{secret}:{nonce}".encode()).hexdigest())
PY
)
# 1 MiB and 10 MiB files in the user's home, through Jupyter's contents API.
python3 - "$direct" "$token" <<'PY'
import base64, json, os, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
for name, size in (("bench-1MiB.bin", 1 << 20), ("bench-10MiB.bin", 10 << 20)):
    body = json.dumps({"type": "file", "format": "base64", "content": base64.b64encode(os.urandom(size)).decode()}).encode()
    req = urllib.request.Request(f"{url}/user/bench/api/contents/{name}", data=body, method="PUT",
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY

