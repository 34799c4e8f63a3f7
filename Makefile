# rediskit: the everyday entry points. CMake does the building; this file
# only names the usual builds and runs. `make help` lists the targets.
#
#   make            build everything, tests included, in build/ (RelWithDebInfo)
#   make test       build everything, then run every test
#   make demo       build the library and examples/tour in build-lib/, run the
#                   tour against a throwaway redis-server
#   make install    build the library and tools in build-lib/, install them
#   make commands   regenerate the typed commands from spec/
#   make meta       regenerate the command metadata table from spec/
#
# Variables: WERROR=1 (warnings are errors), JOBS=N (default: all cores),
# PREFIX=/usr/local (make install), FUZZ_TIME=60 (seconds per target, make
# fuzz), FUZZ_TARGET=fuzz_NAME (make fuzz: that target only),
# BENCH_ARGS=... (passed to rk-bench-compare), CC=clang (compiler).
# RK_SKIP_DEPS=1 skips the Debian package check.

MAKEFLAGS += --no-print-directory

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
FUZZ_TIME ?= 60
BENCH_ARGS ?=
WERROR ?= 0

# The Debian packages each target needs, checked (and as root installed, with
# --no-install-recommends) by scripts/deps.sh. gcc only recommends libc6-dev,
# so it is named: without it no program links. LIB_PKGS builds the library,
# the tools and the examples; pkg-config finds cmocka and hiredis; the async
# tests run on libevent, libuv and libev (LOOP_PKGS; the benchmark needs
# libevent); the tests start redis-server, redis-sentinel and redis-cli, make
# TLS certificates with openssl, rerun the command and metadata generators (python3), and make a
# de_DE locale for the locale test (locales). make format needs clang-format.
# The with-redis.sh wrapper waits for its server with redis-cli (redis-tools).
# CC=clang adds clang to every list (CC_PKGS).
LIB_PKGS = make gcc libc6-dev cmake libssl-dev $(CC_PKGS)
BUILD_PKGS = $(LIB_PKGS) pkg-config libcmocka-dev $(LOOP_PKGS)
SERVER_PKGS = redis-server redis-tools
LOOP_PKGS = libevent-dev libuv1-dev libev-dev
BASE_PKGS = $(BUILD_PKGS) libhiredis-dev $(SERVER_PKGS) redis-sentinel openssl python3 \
            locales
BENCH_PKGS = $(LIB_PKGS) pkg-config libhiredis-dev libevent-dev $(SERVER_PKGS)
CLANG_PKGS := clang libclang-rt-14-dev
DEPS := scripts/deps.sh
WITH_REDIS := scripts/with-redis.sh
VERSION := $(shell sed -n 's/^project.rediskit VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

# Options every configuration gets. The compiler is passed on only when the
# user chose one (make's built-in default for CC is "cc").
CMAKE_OPTS := -DRK_WERROR=$(if $(filter 1 ON yes,$(WERROR)),ON,OFF)
ifneq ($(filter environment command line,$(origin CC)),)
CMAKE_OPTS += -DCMAKE_C_COMPILER=$(CC)
SAN_PKGS := $(if $(findstring clang,$(CC)),$(CLANG_PKGS))
CC_PKGS := $(if $(findstring clang,$(CC)),clang)
endif

# $(call configure,DIR,BUILD_TYPE,EXTRA_OPTIONS); write $(comma) for a comma.
comma := ,
configure = cmake -S . -B $(1) -DCMAKE_BUILD_TYPE=$(2) $(CMAKE_OPTS) $(3)

# build-lib/ holds what demo and install need and nothing that needs cmocka
# or hiredis: the library, the tools and the examples.
configure_lib = $(call configure,build-lib,RelWithDebInfo,-DRK_BUILD_TESTS=OFF -DRK_BUILD_BENCH=OFF)

.PHONY: all build test demo bench fuzz asan install format format-check docs commands clean help
.PHONY: meta meta-refresh

all: build

build:
	@$(DEPS) $(BUILD_PKGS)
	$(call configure,build,RelWithDebInfo)
	cmake --build build -j $(JOBS)

test:
	@$(DEPS) $(BASE_PKGS)
	$(call configure,build,RelWithDebInfo)
	cmake --build build -j $(JOBS)
	ctest --test-dir build --output-on-failure -j2

demo:
	@$(DEPS) $(LIB_PKGS) $(SERVER_PKGS)
	$(configure_lib)
	cmake --build build-lib -j $(JOBS) --target tour
	$(WITH_REDIS) build-lib/examples/tour

bench:
	@$(DEPS) $(BENCH_PKGS)
	$(call configure,build-release,Release,-DRK_BUILD_BENCH=ON -DRK_BUILD_TESTS=OFF)
	cmake --build build-release -j $(JOBS) --target rk-bench-compare rk-bench
	$(WITH_REDIS) build-release/bench/rk-bench-compare $(BENCH_ARGS)
	$(WITH_REDIS) bench/rkbench_vs_redis_benchmark.sh build-release/tools/rk-bench

# Every fuzz/fuzz_NAME.c is a target; FUZZ_TARGET=fuzz_NAME picks one. Each
# runs FUZZ_TIME seconds in turn, on build-fuzz/corpus/fuzz_NAME (its seeds
# from fuzz/corpus/fuzz_NAME, then what the runs find), with the words of
# the fuzz/dict/*.dict files FUZZ_DICT_fuzz_NAME lists. Crashes land in
# build-fuzz/ as fuzz_NAME-crash-*; the closing stats give exec/s.
FUZZ_TARGETS := $(basename $(notdir $(wildcard fuzz/fuzz_*.c)))
FUZZ_TARGET ?= $(FUZZ_TARGETS)
FUZZ_DICT_fuzz_reader := resp
FUZZ_DICT_fuzz_reader_roundtrip := resp
FUZZ_DICT_fuzz_shapes := resp shapes
FUZZ_DICT_fuzz_pubsub := resp pubsub
FUZZ_DICT_fuzz_url := url

# $(call fuzz_run,TARGET): the commands that fuzz one target.
fuzz_run = echo "== $(1): $(FUZZ_TIME) s" && mkdir -p build-fuzz/corpus/$(1) && \
	if [ -d fuzz/corpus/$(1) ]; then cp -R fuzz/corpus/$(1)/. build-fuzz/corpus/$(1)/; fi && \
	cat /dev/null $(FUZZ_DICT_$(1):%=fuzz/dict/%.dict) > build-fuzz/$(1).dict && \
	build-fuzz/fuzz/$(1) -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/$(1)- -dict=build-fuzz/$(1).dict build-fuzz/corpus/$(1)

fuzz:
	@$(DEPS) $(BASE_PKGS) $(CLANG_PKGS)
	$(call configure,build-fuzz,RelWithDebInfo,-DCMAKE_C_COMPILER=clang -DRK_BUILD_FUZZ=ON \
	    -DRK_BUILD_TESTS=OFF -DRK_BUILD_EXAMPLES=OFF -DRK_BUILD_TOOLS=OFF -DRK_BUILD_BENCH=OFF)
	cmake --build build-fuzz -j $(JOBS) $(addprefix --target ,$(FUZZ_TARGET))
	@$(foreach t,$(FUZZ_TARGET),$(call fuzz_run,$(t)) && ) true

asan:
	@$(DEPS) $(BASE_PKGS) $(SAN_PKGS)
	$(call configure,build-asan,Debug,-DRK_SANITIZE=address$(comma)undefined -DRK_BUILD_BENCH=OFF)
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --test-dir build-asan --output-on-failure -j2

install:
	@$(DEPS) $(LIB_PKGS)
	$(configure_lib)
	cmake --build build-lib -j $(JOBS) --target rediskit rediskit_static rk-cli rk-bench
	cmake --install build-lib --prefix $(PREFIX)
	@# as root, refresh the loader's cache so /usr/local/lib is found at once
	@if [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

SOURCES = $(shell find include src tests bench fuzz examples tools -name '*.[ch]' 2>/dev/null)

format:
	@$(DEPS) clang-format
	clang-format -i $(SOURCES)

format-check:
	@$(DEPS) clang-format
	clang-format --dry-run -Werror $(SOURCES)

# The typed commands and the metadata table come from the checked-in spec/
# only (no server, no clang-format). meta-refresh is the one step that reads
# a live server: it rereads the spec from a throwaway redis-server, after
# which `make meta commands` regenerates both from it.
commands:
	@$(DEPS) python3
	scripts/gen-commands.sh

meta:
	@$(DEPS) python3
	python3 tools/gen-meta/gen_meta.py

meta-refresh:
	@$(DEPS) python3 redis-server redis-tools
	$(WITH_REDIS) python3 tools/gen-meta/refresh_spec.py live

docs:
	@$(DEPS) doxygen
	mkdir -p build/docs
	RK_VERSION=$(VERSION) doxygen docs/Doxyfile
	@echo "docs: build/docs/html/index.html"
	@# a doxygen warning is a documentation bug: show it and fail
	@if [ -s build/docs/warnings.log ]; then cat build/docs/warnings.log; exit 1; fi

clean:
	rm -rf build build-lib build-release build-asan build-fuzz

help:
	@echo "make / make build   build everything, tests included, in build/ (RelWithDebInfo)"
	@echo "make test           build everything and run all tests (ctest)"
	@echo "make demo           build the library and run examples/tour (build-lib/)"
	@echo "make bench          rediskit vs hiredis (Release, build-release/); BENCH_ARGS=..."
	@echo "make fuzz           run each fuzz target FUZZ_TIME seconds (clang); FUZZ_TARGET=..."
	@echo "make asan           build and test with ASan + UBSan (build-asan/)"
	@echo "make install        build library and tools (build-lib/), install to PREFIX"
	@echo "make format         clang-format every source file in place"
	@echo "make format-check   fail if a source file is not formatted"
	@echo "make docs           API reference with doxygen (build/docs/html)"
	@echo "make commands       regenerate the typed commands from spec/"
	@echo "make meta           regenerate the command metadata table from spec/"
	@echo "make meta-refresh   reread spec/redis-<version>.json from a throwaway server"
	@echo "make clean          remove every build directory"
	@echo "Variables: WERROR=1 JOBS=N PREFIX=DIR FUZZ_TIME=S FUZZ_TARGET=fuzz_NAME BENCH_ARGS=..."
	@echo "           CC=clang"
