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
TEST_PKGS := libcmocka-dev kcat python3-avro iproute2 dnsmasq bind9-dnsutils prometheus openssl \
	etcd-server etcd-client

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRCS))
SCHEMAS := $(wildcard schemas/*.avsc)

# Everything but the programs' mains goes into one library shared by the programs and the tests.
TOOLS := tail
TOOL_MAINS := $(addprefix producer/tools/,$(addsuffix .c,$(TOOLS)))
LIB_SRCS := $(filter-out $(TOOL_MAINS),$(wildcard producer/core/*.c producer/http/*.c \
	producer/collectors/*/*.c producer/tools/*.c)) \
	$(BUILD)/gen/schemas.c
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(notdir $(LIB_SRCS)))
SAN_OBJS := $(patsubst %.c,$(BUILD)/san/%.o,$(notdir $(LIB_SRCS)))
TEST_SRCS := $(wildcard tests/test_*.c)
# tests/fuzz/fuzz_<name>.c exercises producer/<name>.c; each runs FUZZ_SECONDS on its seed corpus.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 20
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

vpath %.c $(SRC_DIRS) $(BUILD)/gen tests

.PHONY: all deps test unit fuzz integration run clean bench
.DEFAULT_GOAL := all
# Keep intermediate files (BPF objects, skeletons, test objects) so a second make does nothing.
.SECONDARY:

all: $(BUILD)/tapio-producer $(addprefix $(BUILD)/tapio-,$(TOOLS))

# Installs only what is missing: a no-op (no apt-get at all) once everything is there.
define install_missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get -o DPkg::Lock::Timeout=600 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q $$missing || exit 1; \
	fi
	@mkdir -p $(@D) && touch $@
endef

deps: $(BUILD)/.deps $(BUILD)/.deps-test
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

$(BUILD)/gen/schemas.c: $(SCHEMAS) producer/core/embed-schemas.sh | $(BUILD)/.deps
	@mkdir -p $(@D)
	sh producer/core/embed-schemas.sh $(SCHEMAS) > $@.tmp && mv $@.tmp $@

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
FUZZ_EXTRA_avro_json := producer/core/schema.c $(BUILD)/gen/schemas.c
FUZZ_EXTRA_etcd_map := producer/core/avro_writer.c
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

integration: $(BUILD)/san-bin/tapio-producer $(addprefix $(BUILD)/san-bin/tapio-,$(TOOLS)) | $(BUILD)/.deps-test
	TAPIO_BIN=$(abspath $(BUILD)/san-bin) bash integration/run.sh

test: deps unit fuzz integration

run: all
	@[ "$$(id -u)" = 0 ] || { echo "make run: tapio-producer loads eBPF programs and needs root" >&2; exit 1; }
	$(BUILD)/tapio-producer $(RUN_ARGS)

clean:
	rm -rf $(BUILD)

# `make bench` (root, ~10 min): the table of BENCHMARKS.md, every figure measured in one run on
# loopback (tests/bench/run.sh). Not part of `make test`.
BENCH_PKGS := kcat bpftrace valgrind strace etcd-server etcd-client
BENCH_BINS := $(addprefix $(BUILD)/bench/,pipebench pipebench-counting mockbroker workload etcdburst)
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
$(BUILD)/bench/workload: $(BUILD)/bench/workload.o
	$(CC) $(ALL_CFLAGS) -o $@ $^
$(BUILD)/bench/etcdburst: $(BUILD)/bench/etcdburst.o
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lcurl
bench: all $(BENCH_BINS) | $(BUILD)/.deps-bench
	@[ "$$(id -u)" = 0 ] || { echo "make bench: loads eBPF programs and needs root" >&2; exit 1; }
	BUILD=$(BUILD) bash tests/bench/run.sh
-include $(wildcard $(BUILD)/bench/*.d)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/san/*.d)
