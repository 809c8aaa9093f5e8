# Tapio build. `make` builds, `make run` starts the producer on the embedded broker (root),
# `make test` runs every test tier (root). Each target installs the Debian packages it needs first.

SHELL := /bin/bash
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BUILD := build
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

CC := gcc
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
# producer/core: the pipeline every record takes; producer/http: the HTTP client the HTTP
# collectors share; producer/collectors/<name>: one collector each; producer/tools: programs that
# read the topics. Object files are named after their source alone, so every source file name is
# unique across these folders.
SRC_DIRS := producer producer/core producer/http $(sort $(dir $(wildcard producer/collectors/*/*.c))) \
	producer/tools
SRC_DIRS := $(patsubst %/,%,$(SRC_DIRS))
CPPFLAGS := -D_GNU_SOURCE -DTAPIO_VERSION='"$(VERSION)"' $(addprefix -I,$(SRC_DIRS)) -Ibpf -I$(BUILD)/bpf -I$(BUILD)/gen
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -MMD -MP
LDLIBS := -lbpf -lelf -lz -lrdkafka -lavro -ljansson -lcurl -lssl -lcrypto -lpthread
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# libbpf's BPF_PROG() declares a ctx parameter most programs never use.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) -Wno-unused-parameter -Ibpf -Ibpf/vmlinux/$(ARCH)

# Build dependencies, then what the test tiers run against.
BUILD_PKGS := clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev librdkafka-dev libavro-dev \
	libjansson-dev libcurl4-openssl-dev libssl-dev pkg-config make gcc
# kubectl: Debian's kubernetes-client, unless a kubectl package (Google Cloud SDK's) already owns
# /usr/bin/kubectl: the two conflict, and either serves the stand-ins' tests.
KUBECTL_PKG := $(if $(shell dpkg-query -W -f='$${Status}' kubectl 2>/dev/null | grep 'ok installed'),kubectl,kubernetes-client)
# libavro-java, default-jdk-headless: Avro's Java implementation judges schema compatibility.
TEST_PKGS := libcmocka-dev kcat python3-avro iproute2 dnsmasq bind9-dnsutils prometheus \
	python3-kubernetes $(KUBECTL_PKG) openssl curl avro-bin libavro-java default-jdk-headless \
	etcd-server etcd-client

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRCS))
SCHEMAS := $(wildcard schemas/*.avsc)
# The schemas of earlier releases: decoded with by tapio-tail, never written with.
RELEASED_SCHEMAS := $(wildcard schemas/released/*/*.avsc)

# Everything but the programs' mains goes into one library shared by the programs and the tests.
TOOLS := tail archive replay
TOOL_MAINS := $(addprefix producer/tools/,$(addsuffix .c,$(TOOLS)))
LIB_SRCS := $(filter-out $(TOOL_MAINS),$(wildcard producer/core/*.c producer/http/*.c \
	producer/collectors/*/*.c producer/tools/*.c)) \
	$(BUILD)/gen/schemas.c $(BUILD)/gen/released_schemas.c
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(notdir $(LIB_SRCS)))
SAN_OBJS := $(patsubst %.c,$(BUILD)/san/%.o,$(notdir $(LIB_SRCS)))
TEST_SRCS := $(wildcard tests/test_*.c)
# tests/fuzz/fuzz_<name>.c exercises producer/<name>.c; each runs FUZZ_SECONDS on its seed corpus.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 20
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

vpath %.c $(SRC_DIRS) $(BUILD)/gen tests

.PHONY: all deps test unit compat fuzz integration run clean bench k8s-check cross kernel-matrix
.DEFAULT_GOAL := all
# Keep intermediate files (BPF objects, skeletons, test objects) so a second make does nothing.
.SECONDARY:

all: $(BUILD)/tapio-producer $(addprefix $(BUILD)/tapio-,$(TOOLS))

# Installs only what is missing: a no-op (no apt-get at all) once everything is there. $(2): extra
# apt-get options.
define install_missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get -o DPkg::Lock::Timeout=600 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q $(2) $$missing || exit 1; \
	fi
	@mkdir -p $(@D) && touch $@
endef

deps: $(BUILD)/.deps $(BUILD)/.deps-test $(BUILD)/.deps-k8s
$(BUILD)/.deps: Makefile
	$(call install_missing,$(BUILD_PKGS))
$(BUILD)/.deps-test: Makefile
	$(call install_missing,$(TEST_PKGS))

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) | $(BUILD)/.deps
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	llvm-strip -g $@.tmp && mv $@.tmp $@  # DWARF only: BTF stays, the skeleton shrinks

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# Two objects: the producer links only the current schemas; readers link the released ones too.
$(BUILD)/gen/schemas.c: $(SCHEMAS) producer/core/embed-schemas.sh | $(BUILD)/.deps
	@mkdir -p $(@D)
	sh producer/core/embed-schemas.sh current $(SCHEMAS) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/released_schemas.c: $(RELEASED_SCHEMAS) producer/core/embed-schemas.sh | $(BUILD)/.deps
	@mkdir -p $(@D)
	sh producer/core/embed-schemas.sh released $(RELEASED_SCHEMAS) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c $(SKELS) VERSION | $(BUILD)/.deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c $(SKELS) VERSION | $(BUILD)/.deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(SAN) -c $< -o $@

$(BUILD)/libtapio.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/libtapio-san.a: $(SAN_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/tapio-producer: $(BUILD)/obj/main.o $(BUILD)/libtapio.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# Each tool: producer/tools/<tool>.c has its main.
$(BUILD)/tapio-%: $(BUILD)/obj/%.o $(BUILD)/libtapio.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests run under ASan and UBSan.
$(BUILD)/tests/%: $(BUILD)/san/%.o $(BUILD)/libtapio-san.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LDLIBS) -lcmocka

# Sources some fuzz targets need beyond producer/*/<name>.c (log.c goes with every one).
FUZZ_EXTRA_avro_json := producer/core/schema.c producer/tools/avro_skip.c $(BUILD)/gen/schemas.c \
	$(BUILD)/gen/released_schemas.c
# avro_skip.c checks names with schema.c's schema_valid_name().
FUZZ_SCHEMA := producer/core/schema.c $(BUILD)/gen/schemas.c $(BUILD)/gen/released_schemas.c
FUZZ_EXTRA_avro_skip := $(FUZZ_SCHEMA)
FUZZ_EXTRA_ocf := producer/tools/avro_skip.c producer/tools/archive_format.c $(FUZZ_SCHEMA)
FUZZ_EXTRA_archive_format := producer/tools/avro_skip.c $(FUZZ_SCHEMA)
FUZZ_EXTRA_kubeapi_map := producer/collectors/kubeapi/json_tok.c \
	producer/collectors/kubeapi/kubeapi_quantity.c producer/core/avro_writer.c
FUZZ_EXTRA_etcd_map := producer/core/avro_writer.c
FUZZ_EXTRA_kubelet_map := producer/core/avro_writer.c producer/collectors/kubelet/kubelet_pods.c \
	producer/collectors/kubeapi/json_tok.c
FUZZ_EXTRA_kubelet_pods := producer/core/avro_writer.c producer/collectors/kubelet/kubelet_map.c \
	producer/collectors/kubeapi/json_tok.c
.SECONDEXPANSION:
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(wildcard producer/*/$$*.c producer/collectors/*/$$*.c) \
		producer/core/log.c $$(FUZZ_EXTRA_$$*) | $(BUILD)/.deps
	@mkdir -p $(@D)
	$(CLANG) -g -O1 $(WARN) -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)

fuzz: $(FUZZERS) | $(BUILD)/.deps-test
	@set -e; for f in $(FUZZERS); do \
		name=$${f##*/fuzz_}; mkdir -p $(BUILD)/fuzz/corpus-$$name; \
		echo "== $$f ($(FUZZ_SECONDS) s)"; \
		LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ \
			$(BUILD)/fuzz/corpus-$$name \
			tests/fuzz/corpus/$$name 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' ; \
		[ $${PIPESTATUS[0]} -eq 0 ] || exit 1; \
	done

# The integration tier runs the programs built with ASan and UBSan too.
$(BUILD)/san-bin/tapio-producer: $(BUILD)/san/main.o $(BUILD)/libtapio-san.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/san-bin/tapio-%: $(BUILD)/san/%.o $(BUILD)/libtapio-san.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

unit: $(TESTS) | $(BUILD)/.deps-test
	@set -e; for t in $(TESTS); do echo "== $$t"; TAPIO_SCHEMA_DIR=schemas $$t; done

# Every current schema against every released baseline (schemas/released/<version>/), judged by
# python3-avro and Avro's Java library; then proof that the judges reject real incompatibilities.
COMPAT_JAVA_CP := $(subst $(eval) ,:,$(addprefix /usr/share/java/,avro.jar jackson-core-asl.jar \
	jackson-mapper-asl.jar slf4j-api.jar slf4j-nop.jar))
$(BUILD)/compat/CompatCheck.class: tests/compat/CompatCheck.java | $(BUILD)/.deps-test
	@mkdir -p $(@D)
	javac -Xlint:all -Werror -d $(@D) -cp $(COMPAT_JAVA_CP) $<
compat: $(BUILD)/compat/CompatCheck.class | $(BUILD)/.deps-test
	/usr/bin/python3 tests/compat/compat.py --java-classes $(BUILD)/compat \
		--java-classpath $(COMPAT_JAVA_CP) schemas
	/usr/bin/python3 tests/compat/test_compat.py --java-classes $(BUILD)/compat \
		--java-classpath $(COMPAT_JAVA_CP) schemas

# mockbroker: a broker that outlives the producers of a test (integration/harness.py MockBroker).
integration: $(BUILD)/san-bin/tapio-producer $(addprefix $(BUILD)/san-bin/tapio-,$(TOOLS)) \
		$(BUILD)/bench/mockbroker | $(BUILD)/.deps-test
	TAPIO_BIN=$(abspath $(BUILD)/san-bin) TAPIO_MOCKBROKER=$(abspath $(BUILD)/bench/mockbroker) \
		bash integration/run.sh

test: deps unit compat k8s-check fuzz cross integration

# Deployment files, offline (no root, no cluster, no Docker engine): every k8s/overlays/* rendered by
# kubectl's Kustomize and validated against the Kubernetes API schemas of the npm packages pinned in
# tests/k8s/package-lock.json (installed once from the npm registry into $(BUILD)/k8s-check);
# docker-compose.yml read by Debian's docker-compose (without its recommended docker.io: no engine
# runs here). kubectl with Kustomize v4+ (kubectl 1.21+) comes with this machine's image; Debian
# bookworm's kubernetes-client (1.20) is too old for the kustomizations and clashes with it.
K8S_PKGS := docker-compose python3-yaml
K8S_CHECK := $(BUILD)/k8s-check
$(BUILD)/.deps-k8s: Makefile
	@command -v kubectl >/dev/null || { echo "k8s-check needs kubectl 1.21+ on PATH" >&2; exit 1; }
	@# npm: this machine's image has Node.js with npm; elsewhere Debian's.
	@command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=600 install -y -q nodejs npm
	$(call install_missing,$(K8S_PKGS),--no-install-recommends)
$(K8S_CHECK)/.installed: tests/k8s/package.json tests/k8s/package-lock.json | $(BUILD)/.deps-k8s
	@mkdir -p $(@D)
	cp tests/k8s/package.json tests/k8s/package-lock.json $(@D)/
	cd $(@D) && npm ci --no-audit --no-fund --loglevel=error
	touch $@
k8s-check: all $(K8S_CHECK)/.installed
	cp tests/k8s/validate.mjs $(K8S_CHECK)/
	BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/k8s/test_manifests.py

run: all
	@[ "$$(id -u)" = 0 ] || { echo "make run: tapio-producer loads eBPF programs and needs root" >&2; exit 1; }
	$(BUILD)/tapio-producer $(RUN_ARGS)

clean:
	rm -rf $(BUILD)

# `make bench` (root, ~7 min): the table of BENCHMARKS.md, every figure measured in one run on
# loopback (tests/bench/run.sh). Not part of `make test`.
BENCH_PKGS := kcat bpftrace valgrind strace etcd-server etcd-client
BENCH_BINS := $(addprefix $(BUILD)/bench/,pipebench pipebench-counting mockbroker workload topicsize \
	kubeapibench etcdburst kubeletbench collbench producebatch)
$(BUILD)/.deps-bench: Makefile
	$(call install_missing,$(BENCH_PKGS))
$(BUILD)/bench/%.o: tests/bench/%.c $(SKELS) VERSION | $(BUILD)/.deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@
$(BUILD)/bench/pipebench: $(BUILD)/bench/pipebench.o $(BUILD)/libtapio.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench/pipebench-counting: $(BUILD)/bench/pipebench.o $(BUILD)/bench/alloc_count.o $(BUILD)/libtapio.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench/mockbroker: $(BUILD)/bench/mockbroker.o
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lrdkafka
$(BUILD)/bench/topicsize: $(BUILD)/bench/topicsize.o
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lrdkafka -ljansson
$(BUILD)/bench/workload: $(BUILD)/bench/workload.o
	$(CC) $(ALL_CFLAGS) -o $@ $^
$(BUILD)/bench/kubeapibench: $(BUILD)/bench/kubeapibench.o $(BUILD)/libtapio.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench/etcdburst: $(BUILD)/bench/etcdburst.o
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lcurl
$(BUILD)/bench/kubeletbench: $(BUILD)/bench/kubeletbench.o $(BUILD)/libtapio.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench/collbench: $(BUILD)/bench/collbench.o $(BUILD)/libtapio.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench/producebatch: $(BUILD)/bench/producebatch.o
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lrdkafka
bench: all $(BENCH_BINS) | $(BUILD)/.deps-bench
	@[ "$$(id -u)" = 0 ] || { echo "make bench: loads eBPF programs and needs root" >&2; exit 1; }
	BUILD=$(BUILD) bash tests/bench/run.sh
-include $(wildcard $(BUILD)/bench/*.d)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/san/*.d)

# `make cross` (part of `make test`): the BPF objects built for arm64 (__TARGET_ARCH_arm64,
# bpf/vmlinux/arm64) and the producer and tools linked against Debian 12's arm64 libraries, so
# neither rots unseen. The libraries are unpacked into a sysroot under $(ARM64_BUILD) from .debs
# fetched by a private apt configuration (integration/kernel-matrix/sysroot.sh; nothing is
# installed for arm64 on this machine) and cached in $(TAPIO_CACHE), which `make clean` keeps.
TAPIO_CACHE ?= .cache
CROSS_PKGS := gcc-aarch64-linux-gnu
ARM64_BUILD := $(BUILD)/arm64
ARM64_SYSROOT := $(ARM64_BUILD)/sysroot
ARM64_LIB_PKGS := libbpf-dev libelf-dev zlib1g-dev librdkafka-dev libavro-dev libjansson-dev \
	libcurl4-openssl-dev libssl-dev libc6-dev
# Warnings are errors there too; -O1 without debug info halves the compile time.
CROSS_CFLAGS ?= -O1
$(BUILD)/.deps-cross: Makefile
	$(call install_missing,$(CROSS_PKGS))
# Makefile: the package list above is in it (the downloads are cached).
$(ARM64_SYSROOT)/.packages.done: integration/kernel-matrix/sysroot.sh Makefile | $(BUILD)/.deps-cross
	TAPIO_CACHE=$(TAPIO_CACHE) bash integration/kernel-matrix/sysroot.sh $(ARM64_SYSROOT) \
		$(ARM64_LIB_PKGS)
cross: $(ARM64_SYSROOT)/.packages.done | $(BUILD)/.deps
	@$(MAKE) --no-print-directory BUILD=$(ARM64_BUILD) ARCH=arm64 CFLAGS="$(CROSS_CFLAGS)" \
		CC="aarch64-linux-gnu-gcc --sysroot=$(abspath $(ARM64_SYSROOT))" all
	@readelf -h $(ARM64_BUILD)/tapio-producer | grep -q 'Machine: *AArch64' || \
		{ echo "cross: $(ARM64_BUILD)/tapio-producer is not an arm64 program" >&2; exit 1; }

# `make kernel-matrix` (root, about 10 min, not part of `make test`): boots the Debian kernels of
# integration/kernel-matrix/kernels.conf under qemu (5.10, 6.1, 6.12, 6.18 and the newest backport
# on x86_64; 5.10, 6.1, 6.12 and the newest on arm64), runs `tapio-producer --probe` and the checks
# of integration/kernel-matrix/check.sh in each, and the same natively on this kernel.
# KERNELS="x86:6.1 arm64:6.12 host" runs some rows only; a run of all rewrites KERNELS.md's tables.
KMATRIX_PKGS := qemu-system-x86 qemu-system-arm xz-utils zstd kmod
$(BUILD)/.deps-kmatrix: Makefile
	$(call install_missing,$(KMATRIX_PKGS))
kernel-matrix: all cross | $(BUILD)/.deps-test $(BUILD)/.deps-kmatrix
	@[ "$$(id -u)" = 0 ] || { echo "make kernel-matrix: needs root" >&2; exit 1; }
	BUILD=$(BUILD) TAPIO_CACHE=$(TAPIO_CACHE) ARM64_LIB_PKGS="$(ARM64_LIB_PKGS)" \
		KERNELS="$(KERNELS)" bash integration/kernel-matrix/run.sh
