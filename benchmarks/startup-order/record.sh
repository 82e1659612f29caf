#!/usr/bin/env bash
# Records which managed methods csrun runs on its hot commands and writes them, in their current address
# order, to src/Csrun.Cli/startup.order, which the NativeAOT compiler then lays out first and together
# (IlcOrderFile, --method-layout:explicit). A container start runs ~1,500 of csrun's ~21,000 compiled methods;
# left where the compiler puts them they are spread over most of the 4.4 MB of managed code, and every first
# touch maps a 64 kB window of it (fault-around) that the process also has to unmap again at exit.
#
#   usage: benchmarks/startup-order/record.sh [RUNS]   (default 500; as root, after `make csrun rootfs`; needs perf)
#
# Sampling (perf, 20 kHz, with call chains) over RUNS rounds of `run`, `create`/`state`/`start`/`delete` and
# `kill`: a method counts when it is anywhere on a sampled stack, so one that mostly waits in system calls
# (a cgroup mkdir) counts as well as one that computes. Every method seen is kept: one that runs but is
# missed stays where the compiler put it and costs a window of its own, while a stray name from a broken
# call chain only lengthens the list (with 500 rounds, `run` keeps 6.8 MB resident against 8.7 unordered;
# with only the methods seen 3 times or more, 8.1). Rerun after changes to the start path; a stale list
# costs locality, never correctness: names no longer compiled are ignored.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-500}
csrun=$PWD/out/bin/csrun
dbg=src/Csrun.Cli/bin/Release/net10.0/linux-x64/native/csrun.dbg
order=src/Csrun.Cli/startup.order
command -v perf >/dev/null || { echo "record.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
[ -x "$csrun" ] && [ -f "$dbg" ] || { echo "record.sh: build first (make csrun): need $csrun and $dbg" >&2; exit 1; }
[ -d out/rootfs/busybox ] || { echo "record.sh: make rootfs first: out/rootfs/busybox is missing" >&2; exit 1; }
cmp -s <(readelf -n "$csrun" 2>/dev/null | grep 'Build ID') <(readelf -n "$dbg" 2>/dev/null | grep 'Build ID') \
  || { echo "record.sh: $dbg is not the symbol file of $csrun (rebuild with make csrun)" >&2; exit 1; }

work=$(mktemp -d /tmp/csrun-order.XXXXXX)
cleanup() {
  for d in "$work"/state/*/; do [ -d "$d" ] && "$csrun" --root "$work/state" delete -f "$(basename "$d")" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
bash rootfs/mkbundle.sh out/rootfs/busybox "$work/bundle" /bin/true >/dev/null
bash rootfs/mkbundle.sh out/rootfs/busybox "$work/sleeper" sleep 60 >/dev/null

cat > "$work/workload.sh" <<WORKLOAD
#!/usr/bin/env bash
set -e
for i in \$(seq 1 $runs); do
  $csrun --root $work/state run --bundle $work/bundle r\$i
  $csrun --root $work/state create --bundle $work/bundle c\$i
  $csrun --root $work/state state c\$i >/dev/null
  $csrun --root $work/state start c\$i
  $csrun --root $work/state delete -f c\$i
  $csrun --root $work/state run -d --bundle $work/sleeper k\$i
  $csrun --root $work/state kill k\$i KILL
  $csrun --root $work/state delete -f k\$i
done
WORKLOAD
chmod +x "$work/workload.sh"
# perf's own build-id cache, kept in $work: it finds the stripped executable's symbols in the symbol file.
perf="perf --buildid-dir $work/buildid"
$perf buildid-cache -a "$dbg"
$perf record -q --no-buildid-cache -F 20000 -g -e cpu-clock -o "$work/perf.data" -- "$work/workload.sh" >/dev/null
$perf script -i "$work/perf.data" -F ip,sym 2>/dev/null | awk 'NF >= 2 { print $2 }' | sort -u > "$work/sampled"
# Managed methods only (section __managedcode), in address order.
objdump -t "$dbg" | awk '$4 == "__managedcode" { print $1, $NF }' | sort > "$work/managed"
awk 'NR == FNR { want[$1] = 1; next } ($2 in want) { print $2 }' "$work/sampled" "$work/managed" > "$order"
echo "record.sh: $(wc -l < "$order") of $(wc -l < "$work/managed") managed methods written to $order"
