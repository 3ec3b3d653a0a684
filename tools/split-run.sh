#!/usr/bin/env bash
# The four-process split run of README "Split mode": the PBX, two phone
# farms (east: 7434s, west: 6867is, FARM phones each) and the recorder as
# four `reclab serve` processes in two network namespaces joined by a veth
# pair, on 198.18.0.0/16 (the benchmarking range: nothing leaves the
# namespaces). East dials west CALLS times, west answers, they talk for
# TALK seconds, east hangs up; then it prints the figures.
#
# As root:  tools/split-run.sh [OUT] (env FARM=500 CALLS=250 TALK=60)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/split-run}
FARM=${FARM:-500}
CALLS=${CALLS:-250}
TALK=${TALK:-60}
ID=$$
A=rl13run-$ID-a B=rl13run-$ID-b VA=rlr${ID}a VB=rlr${ID}b
pids=() names=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$OUT" && mkdir -p "$OUT"
go build -o "$OUT/reclab" ./cmd/reclab
BIN=$(realpath "$OUT/reclab")

cat >"$OUT/lab.yaml" <<EOF
lab:
  pbx: {address: 198.18.0.1}
  recorder: {address: 198.18.0.2}
  farms:
    - {name: east, model: 7434, count: $FARM, first-ext: "10001", base: 198.18.1.1, password: east-secret}
    - {name: west, model: 6867i, count: $FARM, first-ext: "20001", base: 198.18.9.1, password: west-secret}
EOF

ip netns add "$A"
ip netns add "$B"
ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
# Every address of the lab file on its namespace's end of the veth.
python3 - "$FARM" "$VA" >"$OUT/addrs-a" <<'PY'
import sys, ipaddress
n, dev = int(sys.argv[1]), sys.argv[2]
print(f"addr add 198.18.0.1/16 dev {dev}")
for base in ("198.18.1.1", "198.18.9.1"):
    ip, k = ipaddress.ip_address(base), 0
    while k < n:
        if ip.packed[3] not in (0, 255):
            print(f"addr add {ip}/16 dev {dev}")
            k += 1
        ip += 1
PY
ip -n "$A" -b "$OUT/addrs-a"
ip -n "$B" addr add 198.18.0.2/16 dev "$VB"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up

serve() { # NAME NS ARGS...: a serve process, its stdin a fifo kept open
  local name=$1 ns=$2; shift 2
  mkfifo "$OUT/$name.in"
  # ip netns exec execs reclab itself: $! is reclab's pid.
  ip netns exec "$ns" "$BIN" serve "$OUT/lab.yaml" --out "$OUT/$name" "$@" \
    <"$OUT/$name.in" >"$OUT/$name.log" 2>"$OUT/$name.err" &
  pids+=($!)
  names+=("$name")
  exec {fd}>"$OUT/$name.in"
  eval "fd_$name=$fd"
}
ready() { # NAME: wait for its ready line
  until grep -q ' ready: ' "$OUT/$1.log" 2>/dev/null; do
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$OUT"/*.err; exit 1; }
    sleep 0.1
  done
  grep ' ready: ' "$OUT/$1.log"
}

# UDP receive-buffer drops (RcvbufErrors, /proc/net/snmp) of a namespace:
# where a datagram the wire delivered was dropped for a full socket.
rcvbuf() { ip netns exec "$1" awk '/^Udp:/ { if (n++) { for (i = 1; i <= NF; i++) if (h[i] == "RcvbufErrors") print $i } else for (i = 1; i <= NF; i++) h[i] = $i }' /proc/net/snmp; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load average at start: $(load)"
rbA0=$(rcvbuf "$A") rbB0=$(rcvbuf "$B")
start=$(date +%s.%N)
serve recorder "$B" --nodes recorder
serve pbx "$A" --nodes pbx
serve east "$A" --nodes phones:east
serve west "$A" --nodes phones:west --answer
for n in pbx east west recorder; do ready $n; done
echo "all four ready $(echo "$(date +%s.%N) - $start" | bc) s after the first start"

for ((i = 0; i < CALLS; i++)); do echo "dial east-$((10001 + i)) $((20001 + i))"; done >&"$fd_east"
sleep "$((TALK / 2))"
echo "load average mid-talk: $(load)"
sleep "$((TALK - TALK / 2))"
for ((i = 0; i < CALLS; i++)); do echo "hang-up east-$((10001 + i))"; done >&"$fd_east"
# Every recording closed: 2 per call.
until [ "$(grep -c 'recording .* closed (' "$OUT/recorder.log")" -ge $((2 * CALLS)) ]; do sleep 0.5; done
echo
tick=$(getconf CLK_TCK)
for i in "${!pids[@]}"; do # CPU and peak memory of each process, from /proc, before it stops
  read -r -a st <"/proc/${pids[$i]}/stat"
  echo "${names[$i]}: $(echo "scale=2; (${st[13]} + ${st[14]}) / $tick" | bc) s CPU, $(awk '/VmHWM/ {print $2, $3}' "/proc/${pids[$i]}/status") peak RSS"
done
echo "run: $(echo "$(date +%s.%N) - $start" | bc) s; load average at the end: $(load)"
echo "UDP RcvbufErrors during the run: namespace A (PBX, farms) $(($(rcvbuf "$A") - rbA0)), namespace B (recorder) $(($(rcvbuf "$B") - rbB0))"
for p in "${pids[@]}"; do kill -TERM "$p"; done
wait "${pids[@]}" || true
pids=()
python3 - "$OUT/recorder/recordings" <<'PY'
import json, glob, sys
files = glob.glob(sys.argv[1] + "/*.json")
tx = [json.load(open(f))["tx"] for f in files]
rx = [json.load(open(f))["rx"] for f in files]
st = tx + rx
recv = sum(s["received"] for s in st)
exp = sum(s["expected"] for s in st)
lost = sum(s["lost"] for s in st)
late = sum(s["late"] for s in st)
resyncs = sum(s["resyncs"] for s in st)
paused = sum(g["seconds"] for s in st for g in s.get("gaps", []) if g["why"].startswith("no packets"))
print(f"recordings: {len(files)}; packets recorded {recv} of {exp} sent by sequence number: "
      f"{exp - recv} lost on the way; late {late}; senders paused {paused:.1f} channel-seconds "
      f"({resyncs} resyncs); the JSON's lost (both) {lost}")
PY
grep -h 'CSTA\|error' "$OUT"/*.err | head -5 || true
