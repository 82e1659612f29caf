#!/usr/bin/env bash
# The `make run` demo: one container with resource limits, showing from the inside what the
# runtime set up. Works with any runtime whose command line is runc's (csrun, runc, crun).
#
#   usage: demo.sh RUNTIME ROOTFS_DIR [IMAGES_DIR]
#
# With IMAGES_DIR (the OCI layouts rootfs/mkimages.sh builds; csrun only) it then imports the `layered`
# image into a temporary store and runs it with `csrun run --rm --image layered`.
#
# Builds a bundle in a temporary directory (memory 64 MiB, 64 pids, CPU 50000/100000 us,
# hostname csrun-demo), runs it with `RUNTIME --root TMP/state run --bundle TMP/bundle demo-PID`
# and exits with the container's status. The temporary directory, the runtime's state under it,
# and the container if anything went wrong, are removed on exit.
set -uo pipefail
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: demo.sh RUNTIME ROOTFS_DIR [IMAGES_DIR]" >&2; exit 2; }
runtime=$1 rootfs=$2 images=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v "$runtime" >/dev/null || { echo "demo: runtime $runtime not found or not executable" >&2; exit 1; }
[ -d "$rootfs" ] || { echo "demo: rootfs $rootfs not found (make rootfs builds it)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "demo: must run as root" >&2; exit 1; }

id=demo-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csrun-demo.XXXXXX")
state=$tmp/state
cleanup() {
  # `run` deletes the container when it exits; this only matters after an interruption or a failure.
  if [ -e "$state/$id" ]; then "$runtime" --root "$state" delete -f "$id" >/dev/null 2>&1; fi
  if [ -e "$state/img-$$" ]; then "$runtime" --root "$state" delete -f "img-$$" >/dev/null 2>&1; fi
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The script the container runs as /demo.sh (in its copy of the rootfs); its shell is PID 1.
read -r -d '' script <<'SH'
section() { echo; echo "== $*"; }
section "hostname"
hostname
section "ps (the shell is PID 1)"
ps
section "mount points (/proc/self/mountinfo: mount point, fs type)"
awk '{ for (i = 7; $i != "-"; i++) ; print $5, $(i + 1) }' /proc/self/mountinfo
section "cgroups (/proc/self/cgroup)"
cat /proc/self/cgroup
section "cgroup limits, read from inside"
show() { printf '%-45s %s\n' "$1" "$(cat "$1" 2>&1)"; }
cg=/sys/fs/cgroup
if [ -f $cg/memory/memory.limit_in_bytes ]; then
  echo "(cgroup v1)"
  show $cg/memory/memory.limit_in_bytes
  show $cg/pids/pids.max
  show $cg/cpu/cpu.cfs_quota_us
  show $cg/cpu/cpu.cfs_period_us
elif [ -f $cg/cgroup.controllers ]; then
  echo "(cgroup v2)"
  show $cg/memory.max
  show $cg/pids.max
  show $cg/cpu.max
else
  echo "no cgroup files found under $cg"
fi
section "id"
id
SH

echo "demo: runtime $runtime, rootfs $rootfs"
MKBUNDLE_HOSTNAME=csrun-demo \
MKBUNDLE_MEMORY=$((64 * 1024 * 1024)) \
MKBUNDLE_PIDS=64 \
MKBUNDLE_CPU_QUOTA=50000 \
MKBUNDLE_CPU_PERIOD=100000 \
  bash "$here/mkbundle.sh" "$rootfs" "$tmp/bundle" sh /demo.sh >/dev/null || exit 1
printf '%s\n' "$script" > "$tmp/bundle/rootfs/demo.sh"

echo "demo: $runtime --root $state run --bundle $tmp/bundle $id"
"$runtime" --root "$state" run --bundle "$tmp/bundle" "$id"
status=$?
echo
echo "demo: container $id exited with status $status"
[ $status -eq 0 ] && [ -n "$images" ] || exit $status

echo
echo "demo: an image: $runtime image import $images/layered, then run --rm --image layered"
"$runtime" image --image-root "$tmp/images" import --name layered "$images/layered" || exit 1
"$runtime" image --image-root "$tmp/images" list
echo "demo: $runtime run --rm --name img-$$ --image layered   (Entrypoint sh -c, Cmd, Env, WorkingDir and User from the image)"
"$runtime" --root "$state" run --image-root "$tmp/images" --rm --name "img-$$" --image layered
"$runtime" --root "$state" run --image-root "$tmp/images" --rm --name "img-$$" --image layered \
  'echo "as $(id -un) in $(pwd); /data holds: $(ls /data | tr "\n" " ")(a was whited out)"'
exit $?
