#!/usr/bin/env bash
# The proxy measured the way a peer measures it: wrk against the same JupyterLab directly and
# through Ganymede's proxy, alternated (direct, proxy, direct, proxy, …) so both see the same
# machine, several repetitions, and the median of the per-repetition ratios (proxy / direct) for
# requests/s and p99 latency. Shapes: a small GET (/api/status), a 1 MiB and a 10 MiB download,
# each with one connection and with 50.
#
#   bench/wrk.sh [--seconds N] [--repetitions N] [--shapes LIST] [--connections LIST]
#                (default 4 s × 3, every shape, 1 and 50 connections)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds=4
reps=3
shapes="small GET,1 MiB,10 MiB"
conn_counts="1 50"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --repetitions) reps="$2"; shift 2 ;;
    --shapes) shapes="$2"; shift 2 ;;
    --connections) conn_counts="$2"; shift 2 ;;
    *) echo "usage: bench/wrk.sh [--seconds N] [--repetitions N] [--shapes 'small GET,1 MiB,10 MiB'] [--connections '1 50']" >&2; exit 2 ;;
  esac
done
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
command -v wrk >/dev/null || { echo "wrk: installing Debian's wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
"$root/scripts/setup.sh" run >/dev/null
. "$root/bench/lib.sh"

# One wrk run: prints "requests_per_second p99_ms".
run_wrk() {
  local url="$1" header="$2" conns="$3"
  wrk -t1 -c"$conns" -d"${seconds}s" --latency -H "$header" "$url" | awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } p99 = v }
    END { printf "%s %s\n", rps, p99 }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "Ganymede proxy against the direct connection, wrk — $(nproc) cores, $(date -u +%Y-%m-%d), ${seconds} s × ${reps}, alternated"
printf '| shape | conns | direct req/s | proxy req/s | ratio (median) | direct p99 ms | proxy p99 ms | p99 ratio (median) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n'
for shape in "small GET:api/status" "1 MiB:files/bench-1MiB.bin" "10 MiB:files/bench-10MiB.bin"; do
  label="${shape%%:*}"
  path="${shape#*:}"
  case ",$shapes," in *",$label,"*) ;; *) continue ;; esac
  for conns in $conn_counts; do
    ratios=() p99s=() last=""
    for _ in $(seq 1 "$reps"); do
      read -r d_rps d_p99 < <(run_wrk "$direct/user/bench/$path" "Authorization: token $token" "$conns")
      read -r p_rps p_p99 < <(run_wrk "$hub/user/bench/$path" "Cookie: ganymede-session=$session" "$conns")
      ratios+=("$(awk -v p="$p_rps" -v d="$d_rps" 'BEGIN { printf "%.3f", p / d }')")
      p99s+=("$(awk -v p="$p_p99" -v d="$d_p99" 'BEGIN { printf "%.3f", p / d }')")
      last="$d_rps $p_rps $d_p99 $p_p99"
    done
    read -r d_rps p_rps d_p99 p_p99 <<<"$last"
    ratio=$(printf '%s\n' "${ratios[@]}" | median)
    p99ratio=$(printf '%s\n' "${p99s[@]}" | median)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$conns" "$d_rps" "$p_rps" "$ratio" "$d_p99" "$p_p99" "$p99ratio"
  done
done
echo "(req/s and p99 columns: the last repetition; ratios: the median over all repetitions)"
