# csrun — build, test and demo. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := build

OUT        := $(CURDIR)/out
NATIVE_OUT := $(OUT)/native
BIN        := $(OUT)/bin
ROOTFS     := $(OUT)/rootfs
CSRUN      := $(BIN)/csrun
CSRUND     := $(BIN)/csrund
MONITOR    := $(BIN)/csrun-monitor
DOTNET     ?= dotnet
CONFIG     ?= Release
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

# Debian packages: the C toolchain and linker for NativeAOT, libseccomp and OpenSSL (linked into the static
# csrun; cmake builds .NET's crypto shim for it), busybox for test root filesystems, and the peers the tests
# and benchmarks compare with.
APT_PACKAGES := gcc make clang libc6-dev zlib1g-dev libseccomp-dev libssl-dev cmake busybox-static runc crun criu containerd podman conmon containernetworking-plugins iproute2 util-linux procps time \
	docker-registry apache2-utils skopeo umoci debootstrap zstd strace

NATIVE_SRC := $(wildcard native/*.c) $(wildcard native/*.h)
CS_SRC     := $(shell find src -name '*.cs' -o -name '*.csproj' 2>/dev/null) Directory.Build.props

.PHONY: deps build native csrun csrund monitor cni-config rootfs images install test run bench clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v $(DOTNET) >/dev/null || { echo "error: the .NET 10 SDK (dotnet) is not on PATH" >&2; exit 1; }

native: $(NATIVE_OUT)/libcsrun_native.a $(NATIVE_OUT)/libcsrun_native.so

NATIVE_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=gnu11 -fPIC -fno-strict-aliasing -D_GNU_SOURCE -fstack-protector-strong

# csrun-exec: the static, library-free last hop before the container's program (CVE-2019-5736),
# embedded in the helper library and exec'd from a sealed memfd.
SHIM_CFLAGS := -Os -static -nostdlib -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-pie -no-pie -Wl,--build-id=none -s

$(NATIVE_OUT)/csrun-exec: native/shim/csrun-exec.c
	@mkdir -p $(NATIVE_OUT)
	@gcc $(SHIM_CFLAGS) -o $@ $<

$(NATIVE_OUT)/libcsrun_native.a: $(NATIVE_SRC) $(NATIVE_OUT)/csrun-exec native/shim/blob.S
	@mkdir -p $(NATIVE_OUT)/obj
	@rm -f $(NATIVE_OUT)/obj/*.o
	@set -e; for f in native/*.c; do gcc $(NATIVE_CFLAGS) -c $$f -o $(NATIVE_OUT)/obj/$$(basename $$f .c).o; done
	@gcc -c native/shim/blob.S -Wa,-I$(NATIVE_OUT) -o $(NATIVE_OUT)/obj/shim_blob.o
	@rm -f $@ && ar rcs $@ $(NATIVE_OUT)/obj/*.o

# The shared library (csrund) leaves out what only the csrun executable wants: its start-up constructor
# (nsprep_early.c) and the wrapper its link puts around OpenSSL's CPU probe (openssl_defer.c).
$(NATIVE_OUT)/libcsrun_native.so: $(NATIVE_OUT)/libcsrun_native.a
	@gcc -shared -o $@ $$(ls $(NATIVE_OUT)/obj/*.o | grep -Ev '/(nsprep_early|openssl_defer)\.o$$')

csrun: $(CSRUN)
$(CSRUN): $(NATIVE_OUT)/libcsrun_native.a $(CS_SRC) src/Csrun.Cli/startup.order src/Csrun.Cli/Startup.props
	$(DOTNET) publish src/Csrun.Cli/Csrun.Cli.csproj -c $(CONFIG) -o $(BIN) --nologo -v quiet -p:NativeOut=$(NATIVE_OUT)/
	@rm -f $(BIN)/*.dbg

# csrund (the CRI daemon) is ASP.NET Core: published framework-dependent as one single-file executable,
# run by the machine's .NET runtime rather than NativeAOT.
# It loads libcsrun_native.so from $(BIN): published after csrun, whose AOT publish into the same directory
# drops the shared library, and copied by hand, since an incremental publish that finds nothing changed does
# not put it back.
csrund: $(CSRUND)
$(CSRUND): $(NATIVE_OUT)/libcsrun_native.so $(CSRUN) $(CS_SRC) $(wildcard src/Csrun.Cri/Protos/*.proto)
	$(DOTNET) publish src/Csrun.Daemon/Csrun.Daemon.csproj -c $(CONFIG) -o $(BIN) --nologo -v quiet -p:PublishSingleFile=true
	@rm -f $(BIN)/*.pdb
	@cp $(NATIVE_OUT)/libcsrun_native.so $(BIN)/
	@touch $@

# csrun-monitor: csrund's per-container monitor (conmon's job), plain C so each costs well under a MiB.
monitor: $(MONITOR)
$(MONITOR): native/monitor/monitor.c
	@mkdir -p $(BIN)
	@gcc -O2 -g -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -fstack-protector-strong -o $@ $<

# csrund's default pod network (bridge csrun0 on 10.87.0.0/16, clear of podman's and containerd's 10.88),
# installed only where /etc/cni/net.d has no network config: an existing one is the machine's choice.
CNI_CONF_DIR := /etc/cni/net.d
cni-config: deps
	@if ls $(CNI_CONF_DIR)/*.conflist $(CNI_CONF_DIR)/*.conf $(CNI_CONF_DIR)/*.json >/dev/null 2>&1; then \
	  echo "$(CNI_CONF_DIR) has a network config already; csrun's default is not installed"; \
	else install -D -m 0644 src/Csrun.Daemon/10-csrun.conflist $(CNI_CONF_DIR)/10-csrun.conflist; fi

build: deps native csrun csrund monitor
	$(DOTNET) build Runtime.sln -c $(CONFIG) --nologo -v quiet -p:NativeOut=$(NATIVE_OUT)/

rootfs: deps $(ROOTFS)/busybox/bin/busybox
$(ROOTFS)/busybox/bin/busybox: rootfs/mkrootfs.sh
	bash rootfs/mkrootfs.sh $(ROOTFS)/busybox

# Test images (OCI layouts) built from the busybox rootfs: rootfs/mkimages.sh says what each holds.
IMAGES := $(OUT)/images
images: rootfs $(IMAGES)/busybox/index.json
$(IMAGES)/busybox/index.json: rootfs/mkimages.sh $(ROOTFS)/busybox/bin/busybox
	bash rootfs/mkimages.sh $(ROOTFS)/busybox $(IMAGES)

install: build cni-config
	install -m 0755 $(CSRUN) /usr/local/bin/csrun
	install -m 0755 $(CSRUND) /usr/local/bin/csrund
	install -m 0755 $(MONITOR) /usr/local/bin/csrun-monitor

# Every test project, then one summary line summed over all of them.
TEST_PROJECTS := $(wildcard tests/*/*.csproj)
test: build rootfs images
	@export CSRUN_BINARY=$(CSRUN) CSRUN_MONITOR=$(MONITOR) CSRUN_ROOTFS=$(ROOTFS)/busybox CSRUN_IMAGES=$(IMAGES) CSRUN_REPO=$(CURDIR); \
	rm -rf $(OUT)/test-results; mkdir -p $(OUT)/test-results; rc=0; \
	for p in $(TEST_PROJECTS); do \
	  n=$$(basename $$p .csproj); \
	  $(DOTNET) test $$p -c $(CONFIG) --no-build --nologo -p:NativeOut=$(NATIVE_OUT)/ \
	    --logger "trx;LogFileName=$(OUT)/test-results/$$n.trx" --logger "console;verbosity=normal" || rc=1; \
	done; \
	bash .ci/summarize $(OUT)/test-results; s=$$?; [ $$rc -eq 0 ] && [ $$s -eq 0 ]

run: build rootfs images
	@bash rootfs/demo.sh $(CSRUN) $(ROOTFS)/busybox $(IMAGES)

# floor: the kernel work of a start alone (benchmarks/floor), a reference row under every runtime.
FLOOR_CFLAGS := -O2 -Wall -Wextra -Werror
$(NATIVE_OUT)/floor: benchmarks/floor/floor.c
	@mkdir -p $(NATIVE_OUT)
	@gcc $(FLOOR_CFLAGS) -o $@ $<

# floor-aot: the same kernel work behind an empty NativeAOT start built as csrun's (src/Csrun.Cli/Startup.props):
# what any runtime written in .NET pays at least.
$(NATIVE_OUT)/floor-aot.d/libfloor.a: benchmarks/floor/floor.c
	@mkdir -p $(NATIVE_OUT)/floor-aot.d
	@gcc $(FLOOR_CFLAGS) -Dmain=floor_main -c $< -o $(NATIVE_OUT)/floor-aot.d/floor.o
	@rm -f $@ && ar rcs $@ $(NATIVE_OUT)/floor-aot.d/floor.o
$(NATIVE_OUT)/floor-aot: $(NATIVE_OUT)/floor-aot.d/libfloor.a $(NATIVE_OUT)/libcsrun_native.a benchmarks/floor/aot/FloorAot.csproj \
		benchmarks/floor/aot/Program.cs src/Csrun.Cli/Startup.props
	$(DOTNET) publish benchmarks/floor/aot/FloorAot.csproj -c Release -o $(NATIVE_OUT)/floor-aot.d --nologo -v quiet -p:NativeOut=$(NATIVE_OUT)/
	@rm -f $(NATIVE_OUT)/floor-aot.d/*.dbg && cp $(NATIVE_OUT)/floor-aot.d/floor-aot $@

# A Debian bookworm minbase rootfs (debootstrap from the apt mirror) as OCI images, for the image benchmarks.
$(OUT)/debian/debian-multi/index.json: rootfs/mkdebian.sh
	bash rootfs/mkdebian.sh $(OUT)/debian

bench: build rootfs images $(NATIVE_OUT)/floor $(NATIVE_OUT)/floor-aot $(OUT)/debian/debian-multi/index.json
	$(DOTNET) run -c Release --project benchmarks/Csrun.Benchmarks -- --csrun $(CSRUN) --floor $(NATIVE_OUT)/floor \
	  --floor-aot $(NATIVE_OUT)/floor-aot \
	  --rootfs $(ROOTFS)/busybox --out $(OUT)/bench
	$(DOTNET) run -c Release --project benchmarks/Csrun.Benchmarks -- images --csrun $(CSRUN) --debian $(OUT)/debian \
	  --out $(OUT)/bench --runs 5
	$(DOTNET) run -c Release --project benchmarks/Csrun.Benchmarks -- cri --csrund $(CSRUND) --images $(IMAGES) --pods 50 --out $(OUT)/bench

clean:
	rm -rf $(OUT)
	find . -name bin -o -name obj | grep -E '/(bin|obj)$$' | xargs rm -rf
