#!/usr/bin/env bash
# Builds (once, cached) the benchmark images from a Debian bookworm minbase root filesystem made with
# debootstrap from this machine's apt mirror, as OCI image layouts under DEST:
#   debian-single  the whole rootfs as one tar+gzip layer (the unpack benchmark)
#   debian-multi   the same files in three gzip layers: /usr/share, the rest of /usr, everything else (the pull benchmark)
set -euo pipefail
dest=${1:?usage: mkdebian.sh DEST}
[ -f "$dest/debian-multi/index.json" ] && { echo "debian images: $dest (cached)"; exit 0; }
command -v debootstrap >/dev/null || { echo "mkdebian: debootstrap not found (make deps installs it)" >&2; exit 1; }
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$dest"
work=$(mktemp -d "$dest/.work.XXXXXX"); trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; echo "mkdebian: debootstrap from $mirror failed" >&2; exit 1; }
rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/*
TAR=(tar --sort=name --numeric-owner --format=pax --pax-option=delete=atime,delete=ctime --xattrs)
blob() { local h; h=$(sha256sum "$1" | cut -d' ' -f1); mkdir -p "$2/blobs/sha256"; mv "$1" "$2/blobs/sha256/$h"; echo "$h"; }
# image NAME LAYERFILE... : an OCI layout with those tar.gz layers
image() {
  local out=$dest/$1 ids="" layers="" f d h; shift
  mkdir -p "$out"; printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
  for f in "$@"; do
    d=$(gzip -dc "$f" | sha256sum | cut -d' ' -f1); local size; size=$(stat -c %s "$f"); h=$(blob "$f" "$out")
    ids+="\"sha256:$d\","; layers+="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$h\",\"size\":$size},"
  done
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "${ids%,}" > "$work/config.json"
  local cs; cs=$(stat -c %s "$work/config.json"); local c; c=$(blob "$work/config.json" "$out")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' "$c" "$cs" "${layers%,}" > "$work/manifest.json"
  local ms; ms=$(stat -c %s "$work/manifest.json"); local m; m=$(blob "$work/manifest.json" "$out")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$m" "$ms" > "$out/index.json"
}
"${TAR[@]}" -C "$work/rootfs" -cf - . | gzip -6n > "$work/single.tar.gz"
"${TAR[@]}" -C "$work/rootfs" -cf - ./usr/share | gzip -6n > "$work/l1.tar.gz"
"${TAR[@]}" -C "$work/rootfs" --exclude=./usr/share -cf - ./usr | gzip -6n > "$work/l2.tar.gz"
"${TAR[@]}" -C "$work/rootfs" --exclude=./usr -cf - . | gzip -6n > "$work/l3.tar.gz"
du -sb "$work/rootfs" | cut -f1 > "$work/size"
rm -rf "$dest/debian-single" "$dest/debian-multi"
image debian-single "$work/single.tar.gz"
image debian-multi "$work/l3.tar.gz" "$work/l2.tar.gz" "$work/l1.tar.gz"
cp "$work/size" "$dest/rootfs-bytes"
echo "debian images: $dest ($(( $(cat "$dest/rootfs-bytes") / 1048576 )) MiB unpacked)"
