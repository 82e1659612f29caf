#!/usr/bin/env bash
# Builds a minimal root filesystem from Debian's busybox-static: one static binary plus its applet
# links, /etc/passwd and /etc/group with root, nobody and a test user (1000). Nothing is downloaded.
set -euo pipefail
dest=${1:?usage: mkrootfs.sh DEST}
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkrootfs: $bb not found: install the busybox-static package" >&2; exit 1; }
ldd "$bb" >/dev/null 2>&1 && { echo "mkrootfs: $bb is not static: install busybox-static" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$(dirname "$dest")/.rootfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home/user,var/run,run}
chmod 1777 "$tmp/tmp"
cp "$bb" "$tmp/bin/busybox"
for applet in $("$bb" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$tmp/$(dirname "$applet")"
  ln -sf /bin/busybox "$tmp/$applet"
done
cat > "$tmp/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$tmp/etc/group" <<'G'
root:x:0:
user:x:1000:
audio:x:29:user
nogroup:x:65534:
G
echo busybox > "$tmp/etc/hostname"
chown 1000:1000 "$tmp/home/user"
rm -rf "$dest"; mkdir -p "$(dirname "$dest")"
chmod 755 "$tmp"
mv "$tmp" "$dest"
trap - EXIT
echo "rootfs: $dest"
