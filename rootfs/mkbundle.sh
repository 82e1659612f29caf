#!/usr/bin/env bash
# Creates an OCI bundle: BUNDLE_DIR/config.json plus BUNDLE_DIR/rootfs, a real copy (cp -a) of
# ROOTFS_DIR (the busybox tree from mkrootfs.sh is about 2 MB). The config is runc's default spec
# (`runc spec`) with these changes: terminal false (so it works without a pty and with `run` in
# scripts), a writable root (tests write into it), a cgroup namespace, and the command from the
# arguments (default: sh). Nothing is downloaded and jq is not needed.
#
#   usage: mkbundle.sh ROOTFS_DIR BUNDLE_DIR [ARG...]
#
# Optional settings, from the environment (unset or empty means "leave out"):
#   MKBUNDLE_HOSTNAME      hostname (default: csrun)
#   MKBUNDLE_MEMORY        memory limit in bytes             -> linux.resources.memory.limit
#   MKBUNDLE_PIDS          pids limit                        -> linux.resources.pids.limit
#   MKBUNDLE_CPU_QUOTA     CFS quota in microseconds         -> linux.resources.cpu.quota
#   MKBUNDLE_CPU_PERIOD    CFS period in microseconds        -> linux.resources.cpu.period
#   MKBUNDLE_CGROUPS_PATH  linux.cgroupsPath
#   MKBUNDLE_READONLY      "true" for a read-only root (default: false)
#   MKBUNDLE_CWD           process.cwd (default: /)
set -euo pipefail

usage() { echo "usage: mkbundle.sh ROOTFS_DIR BUNDLE_DIR [ARG...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
src=$1 bundle=$2
shift 2
[ $# -gt 0 ] || set -- sh

[ -d "$src" ] || { echo "mkbundle: rootfs $src is not a directory" >&2; exit 1; }
[ -x "$src/bin/sh" ] || [ -L "$src/bin/sh" ] || echo "mkbundle: warning: $src has no /bin/sh" >&2
if [ -e "$bundle/config.json" ] || [ -e "$bundle/rootfs" ]; then
  echo "mkbundle: $bundle already holds a bundle (config.json or rootfs): remove it first" >&2
  exit 1
fi

# A JSON string literal for $1: escapes backslash, quote and control characters.
json_str() {
  local s=$1 out="" c i
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  s=${s//$'\b'/\\b}
  s=${s//$'\f'/\\f}
  if [[ $s == *[$'\x01'-$'\x1f']* ]]; then
    for ((i = 0; i < ${#s}; i++)); do
      c=${s:i:1}
      if [[ $c == [$'\x01'-$'\x1f'] ]]; then printf -v c '\\u%04x' "'$c"; fi
      out+=$c
    done
    s=$out
  fi
  printf '"%s"' "$s"
}
is_int() { [[ $1 =~ ^-?[0-9]+$ ]] || { echo "mkbundle: $2=$1 is not an integer" >&2; exit 1; }; }

hostname=${MKBUNDLE_HOSTNAME:-csrun}
readonly_root=${MKBUNDLE_READONLY:-false}
case $readonly_root in true|false) ;; *) echo "mkbundle: MKBUNDLE_READONLY must be true or false" >&2; exit 1;; esac
cwd=${MKBUNDLE_CWD:-/}

args=""
for a in "$@"; do args+="${args:+, }$(json_str "$a")"; done

# linux.resources: runc's default device rule (deny all; the runtime adds its default devices)
# plus whatever limits were asked for.
res='      "devices": [ { "allow": false, "access": "rwm" } ]'
if [ -n "${MKBUNDLE_MEMORY:-}" ]; then
  is_int "$MKBUNDLE_MEMORY" MKBUNDLE_MEMORY
  res+=$',\n'"      \"memory\": { \"limit\": $MKBUNDLE_MEMORY }"
fi
if [ -n "${MKBUNDLE_PIDS:-}" ]; then
  is_int "$MKBUNDLE_PIDS" MKBUNDLE_PIDS
  res+=$',\n'"      \"pids\": { \"limit\": $MKBUNDLE_PIDS }"
fi
cpu=""
if [ -n "${MKBUNDLE_CPU_QUOTA:-}" ]; then is_int "$MKBUNDLE_CPU_QUOTA" MKBUNDLE_CPU_QUOTA; cpu+="\"quota\": $MKBUNDLE_CPU_QUOTA"; fi
if [ -n "${MKBUNDLE_CPU_PERIOD:-}" ]; then is_int "$MKBUNDLE_CPU_PERIOD" MKBUNDLE_CPU_PERIOD; cpu+="${cpu:+, }\"period\": $MKBUNDLE_CPU_PERIOD"; fi
[ -z "$cpu" ] || res+=$',\n'"      \"cpu\": { $cpu }"
cgpath=""
[ -z "${MKBUNDLE_CGROUPS_PATH:-}" ] || cgpath=$'\n'"    \"cgroupsPath\": $(json_str "$MKBUNDLE_CGROUPS_PATH"),"

mkdir -p "$bundle"
tmp=$(mktemp -d "$bundle/.rootfs.XXXXXX")
trap 'rm -rf "$tmp" "$bundle/.config.json.tmp"' EXIT
cp -a "$src/." "$tmp/"
chmod 755 "$tmp"

cat > "$bundle/.config.json.tmp" <<EOF
{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [ $args ],
    "env": [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "TERM=xterm"
    ],
    "cwd": $(json_str "$cwd"),
    "capabilities": {
      "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
    },
    "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": $readonly_root },
  "hostname": $(json_str "$hostname"),
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": [ "nosuid", "noexec", "nodev" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
  ],
  "linux": {$cgpath
    "resources": {
$res
    },
    "namespaces": [
      { "type": "pid" },
      { "type": "network" },
      { "type": "ipc" },
      { "type": "uts" },
      { "type": "mount" },
      { "type": "cgroup" }
    ],
    "maskedPaths": [
      "/proc/acpi",
      "/proc/asound",
      "/proc/kcore",
      "/proc/keys",
      "/proc/latency_stats",
      "/proc/timer_list",
      "/proc/timer_stats",
      "/proc/sched_debug",
      "/sys/firmware",
      "/proc/scsi"
    ],
    "readonlyPaths": [
      "/proc/bus",
      "/proc/fs",
      "/proc/irq",
      "/proc/sys",
      "/proc/sysrq-trigger"
    ]
  }
}
EOF
mv "$tmp" "$bundle/rootfs"
trap - EXIT
mv "$bundle/.config.json.tmp" "$bundle/config.json"
echo "bundle: $bundle"
