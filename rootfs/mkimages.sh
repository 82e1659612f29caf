#!/usr/bin/env bash
# Builds the test images as OCI image layouts from the busybox rootfs (mkrootfs.sh), reproducibly and offline:
#   busybox         one tar+gzip layer, OCI manifest and config
#   busybox-docker  the same layer under a Docker v2 schema 2 manifest and config
#   layered         three layers: busybox (gzip), an app layer (zstd), and a plain-tar layer with a whiteout
#                   and an opaque directory; a config with Entrypoint, Cmd, Env, WorkingDir, User, Volumes,
#                   ExposedPorts, Labels and StopSignal
#   multiarch       an OCI index: linux/amd64 (busybox) and linux/arm64/v8 (a marker layer only)
# Each lands in DEST/<name>/ (oci-layout, index.json with the tag "latest", blobs/sha256/).
set -euo pipefail
rootfs=${1:?usage: mkimages.sh BUSYBOX_ROOTFS DEST}
dest=${2:?usage: mkimages.sh BUSYBOX_ROOTFS DEST}
for t in tar gzip zstd sha256sum; do command -v $t >/dev/null || { echo "mkimages: $t not found" >&2; exit 1; }; done
[ -x "$rootfs/bin/busybox" ] || { echo "mkimages: $rootfs is not a busybox rootfs (run mkrootfs.sh)" >&2; exit 1; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
TAR=(tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)

# blob FILE LAYOUT → prints sha256 hex, copies FILE into LAYOUT/blobs/sha256/
blob() { local h; h=$(sha256sum "$1" | cut -d' ' -f1); mkdir -p "$2/blobs/sha256"; cp "$1" "$2/blobs/sha256/$h"; echo "$h"; }
size() { stat -c %s "$1"; }
diffid() { case "$1" in *.gz) gzip -dc "$1";; *.zst) zstd -qdc "$1";; *) cat "$1";; esac | sha256sum | cut -d' ' -f1; }
layout() { mkdir -p "$1/blobs/sha256"; printf '{"imageLayoutVersion":"1.0.0"}' > "$1/oci-layout"; }
# index LAYOUT MEDIATYPE DIGEST SIZE
index() {
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
    "$2" "$3" "$4" > "$1/index.json"
}

# Layer 1: the busybox rootfs.
"${TAR[@]}" -C "$rootfs" -cf "$work/base.tar" .
gzip -9n -c "$work/base.tar" > "$work/base.tar.gz"

# Layer 2 (zstd): an app user, files to delete and a directory to make opaque later.
mkdir -p "$work/l2"/{etc,data,opt/keep,opt/gone,srv/www,var/lib/app}
cp "$rootfs/etc/passwd" "$rootfs/etc/group" "$work/l2/etc/"
echo 'app:x:1500:1500:app:/srv/www:/bin/sh' >> "$work/l2/etc/passwd"
printf 'app:x:1500:\nstaff:x:50:app\n' >> "$work/l2/etc/group"
echo a > "$work/l2/data/a"; echo b > "$work/l2/data/b"
echo keep > "$work/l2/opt/keep/file"; echo gone > "$work/l2/opt/gone/file"
echo '<h1>hello</h1>' > "$work/l2/srv/www/index.html"
"${TAR[@]}" -C "$work/l2" -cf - . | zstd -q -19 -o "$work/app.tar.zst"

# Layer 3 (plain tar): whiteout data/a, make opt opaque and give it new content.
mkdir -p "$work/l3"/{data,opt/new}
: > "$work/l3/data/.wh.a"
: > "$work/l3/opt/.wh..wh..opq"
echo new > "$work/l3/opt/new/file"
echo 'layer three' > "$work/l3/data/c"
"${TAR[@]}" -C "$work/l3" -cf "$work/top.tar" .

# Marker layer for the arm64 manifest of the multi-arch index.
mkdir -p "$work/arm/etc"; echo arm64 > "$work/arm/etc/platform"
"${TAR[@]}" -C "$work/arm" -cf - . | gzip -9n > "$work/arm.tar.gz"

rm -rf "$dest"; mkdir -p "$dest"
OCI_CFG=application/vnd.oci.image.config.v1+json; OCI_MAN=application/vnd.oci.image.manifest.v1+json
DOCKER_CFG=application/vnd.docker.container.image.v1+json; DOCKER_MAN=application/vnd.docker.distribution.manifest.v2+json
BB_CONFIG='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]'

# config ARCH VARIANT CONTAINERCONFIG DIFFIDS... → writes $work/config.json
config() {
  local arch=$1 variant=$2 cc=$3; shift 3
  local ids; ids=$(printf '"sha256:%s",' "$@"); ids=${ids%,}
  local v=""; [ -n "$variant" ] && v=",\"variant\":\"$variant\""
  printf '{"created":"2026-01-01T00:00:00Z","architecture":"%s"%s,"os":"linux","config":{%s},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created_by":"rootfs/mkimages.sh"}]}' \
    "$arch" "$v" "$cc" "$ids" > "$work/config.json"
}
# manifest LAYOUT MANIFESTTYPE CONFIGTYPE LAYERFILE:MEDIATYPE... → writes $work/manifest.json, stores blobs
manifest() {
  local out=$1 mt=$2 ct=$3; shift 3
  local c; c=$(blob "$work/config.json" "$out")
  local layers="" f t h
  for spec in "$@"; do f=${spec%%:*}; t=${spec#*:}; h=$(blob "$f" "$out")
    layers+=$(printf '{"mediaType":"%s","digest":"sha256:%s","size":%s},' "$t" "$h" "$(size "$f")"); done
  printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$mt" "$ct" "$c" "$(size "$work/config.json")" "${layers%,}" > "$work/manifest.json"
}
finish() { local h; h=$(blob "$work/manifest.json" "$1"); index "$1" "$2" "$h" "$(size "$work/manifest.json")"; echo "$h"; }

base_id=$(diffid "$work/base.tar.gz")
GZ=application/vnd.oci.image.layer.v1.tar+gzip

out=$dest/busybox; layout "$out"
config amd64 "" "$BB_CONFIG" "$base_id"
manifest "$out" $OCI_MAN $OCI_CFG "$work/base.tar.gz:$GZ"; amd64=$(finish "$out" $OCI_MAN)
amd64_size=$(size "$work/manifest.json")

out=$dest/busybox-docker; layout "$out"
config amd64 "" "$BB_CONFIG" "$base_id"
manifest "$out" $DOCKER_MAN $DOCKER_CFG "$work/base.tar.gz:application/vnd.docker.image.rootfs.diff.tar.gzip"; finish "$out" $DOCKER_MAN >/dev/null

out=$dest/layered; layout "$out"
config amd64 "" '"User":"app","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","GREETING=hello","MODE=image"],"Entrypoint":["/bin/sh","-c"],"Cmd":["echo $GREETING from $(pwd) as $(id -un)"],"WorkingDir":"/srv/www","Volumes":{"/var/lib/app":{}},"ExposedPorts":{"8080/tcp":{},"53/udp":{}},"Labels":{"org.example.role":"test","maintainer":"csrun"},"StopSignal":"SIGQUIT"' \
  "$base_id" "$(diffid "$work/app.tar.zst")" "$(diffid "$work/top.tar")"
manifest "$out" $OCI_MAN $OCI_CFG "$work/base.tar.gz:$GZ" "$work/app.tar.zst:application/vnd.oci.image.layer.v1.tar+zstd" \
  "$work/top.tar:application/vnd.oci.image.layer.v1.tar"; finish "$out" $OCI_MAN >/dev/null

out=$dest/multiarch; layout "$out"
config amd64 "" "$BB_CONFIG" "$base_id"
manifest "$out" $OCI_MAN $OCI_CFG "$work/base.tar.gz:$GZ"; a=$(blob "$work/manifest.json" "$out"); as=$(size "$work/manifest.json")
config arm64 v8 '"Cmd":["cat","/etc/platform"]' "$(diffid "$work/arm.tar.gz")"
manifest "$out" $OCI_MAN $OCI_CFG "$work/arm.tar.gz:$GZ"; r=$(blob "$work/manifest.json" "$out"); rs=$(size "$work/manifest.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s","digest":"sha256:%s","size":%s,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},{"mediaType":"%s","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
  $OCI_MAN "$r" "$rs" $OCI_MAN "$a" "$as" > "$work/index.json"
h=$(blob "$work/index.json" "$out")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
  "$h" "$(size "$work/index.json")" > "$out/index.json"
: "${amd64:?}" "${amd64_size:?}"
echo "images: $dest (busybox, busybox-docker, layered, multiarch)"
