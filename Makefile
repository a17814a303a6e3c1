# jitgate — build, test, run.  See README.md.
#
#   make run     install what is missing, build, create dev keys/certs, start jitgate
#   make run-ha  two replicas on a throwaway PostgreSQL primary + synchronous standby (Ctrl-C stops)
#   make test    unit tests, the same under ASan+UBSan, then the end-to-end tests on SQLite and
#                on PostgreSQL
#   make bench   benchmarks against limits measured in the same run (not part of test)
#   make fuzz    every libFuzzer target for FUZZ_SECONDS each (docs/fuzzing.md)
#   make soak    a mixed workload at a fixed rate for SOAK_SECONDS (not part of test)
#   make e2e-lsan  the end-to-end suite against an AddressSanitizer build, leaks counted (not part of test)
#   make e2e-pg  the end-to-end suite on PostgreSQL (a throwaway cluster; part of test)

CC      ?= cc
BUILD   ?= build
PKGS    := openssl libjwt libmicrohttpd sqlite3 libpq jansson yaml-0.1 libcurl liboauth2 zlib
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# CFLAGS/LDFLAGS stay the user's; the flags jitgate needs are always added.
CFLAGS  ?= -O2 -g -D_FORTIFY_SOURCE=2
JG_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
           -Wstrict-prototypes -Wmissing-prototypes -fstack-protector-strong \
           -fPIE -Iinclude $(PKG_CFLAGS) $(EXTRA_CFLAGS)
JG_LDFLAGS = $(LDFLAGS) -pie -Wl,-z,relro,-z,now $(EXTRA_LDFLAGS)
JG_LDLIBS  = $(LDLIBS) $(PKG_LIBS) -lpthread

LIB_SRCS  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
WEB_ASSETS := $(wildcard src/web/*.css src/web/*.js)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
# Unit tests that also run on PostgreSQL: the same source built with JG_TEST_PG as test_<name>_pg.
UNIT_PG_TWINS := test_migrate test_access test_audit_state test_probes test_probe_status \
                 test_session_grant
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%) $(UNIT_PG_TWINS:%=$(BUILD)/tests/%_pg)
AGENT_SRCS := $(wildcard agent/src/*.c)
AGENT_OBJS := $(AGENT_SRCS:agent/src/%.c=$(BUILD)/agent/%.o)

.PHONY: all deps build unit unit-asan e2e e2e-both e2e-lsan e2e-pg soak test run run-ha bench lint format clean dev-setup \
	fuzz fuzz-build fuzz-smoke fuzz-bins lint-format lint-cppcheck lint-tidy lint-layers tidy-files FORCE

all: build
build: $(BUILD)/jitgate $(BUILD)/libjitgate-agent.a $(BUILD)/payments_demo $(BUILD)/tests/agent_resend \
	$(BUILD)/tests/agent_costly $(BUILD)/jitgate-probe $(BUILD)/native_demo

deps:
	@deploy/install-deps.sh

# Each object depends on the headers it includes (-MMD -MP writes build/obj/**/*.d).
$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	@mkdir -p $(dir $@)
	$(CC) $(JG_CFLAGS) -MMD -MP -c -o $@ $<

-include $(LIB_OBJS:.o=.d) $(BUILD)/obj/cli/main.d

# The stylesheet and script are compiled into the binary (.incbin in src/web/web_assets.c).
$(BUILD)/obj/web/web_assets.o: $(WEB_ASSETS)

$(BUILD)/libjitgate.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/jitgate: $(BUILD)/obj/cli/main.o $(BUILD)/libjitgate.a
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $^ $(JG_LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libjitgate.a | $(BUILD)/tests
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS) -lcmocka

# The PostgreSQL twin of a unit test: its source built with JG_TEST_PG (tests/unit/pgdb.h: the
# cluster's databases, one fresh database per test migrated by an owner role).
$(UNIT_PG_TWINS:%=$(BUILD)/tests/%_pg): $(BUILD)/tests/%_pg: tests/unit/%.c tests/unit/pgdb.h \
  $(BUILD)/libjitgate.a | $(BUILD)/tests
	$(CC) $(JG_CFLAGS) -DJG_TEST_PG=1 $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS) -lcmocka
# test_audit_pg runs `jitgate audit check` with the binary of its own build.
$(BUILD)/tests/test_audit_pg: tests/unit/pgdb.h $(BUILD)/jitgate
$(BUILD)/tests/test_store_copy_pg: tests/unit/pgdb.h

# test_audit_sink watches the checkpoint pusher and fails one allocation through link-time wrappers.
$(BUILD)/tests/test_audit_sink: EXTRA_LDFLAGS += -Wl,--wrap=jg_httpc_request -Wl,--wrap=strdup

# test_clock_step emulates a step back of the wall clock in the clock and condition-variable calls
# of jitgate's code, and takes the HTTPS client's requests itself.
$(BUILD)/tests/test_clock_step: EXTRA_LDFLAGS += -Wl,--wrap=clock_gettime \
	-Wl,--wrap=pthread_cond_init -Wl,--wrap=pthread_cond_timedwait -Wl,--wrap=jg_httpc_request
# test_digest_fail makes every SHA-256 of jitgate's code fail through link-time wrappers.
$(BUILD)/tests/test_digest_fail: EXTRA_LDFLAGS += -Wl,--wrap=EVP_Digest -Wl,--wrap=EVP_DigestFinal_ex

# The reference agent (agent/, docs/agents.md): its own library, a demo service, its unit test.
$(BUILD)/agent/%.o: agent/src/%.c agent/include/jitgate-agent.h agent/src/internal.h | $(BUILD)/agent
	$(CC) $(JG_CFLAGS) -Iagent/include -c -o $@ $<

$(BUILD)/libjitgate-agent.a: $(AGENT_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/payments_demo: agent/demo/payments_demo.c $(BUILD)/libjitgate-agent.a
	$(CC) $(JG_CFLAGS) -Iagent/include $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate-agent.a $(JG_LDLIBS)

# Drivers for the agent's resend-after-400 and CPU guard tests (tests/e2e/probes-agent.test.mjs).
$(BUILD)/tests/agent_resend $(BUILD)/tests/agent_costly: $(BUILD)/tests/%: tests/agent/%.c \
    tests/agent/driver.h $(BUILD)/libjitgate-agent.a | $(BUILD)/tests
	$(CC) $(JG_CFLAGS) -Iagent/include $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate-agent.a $(JG_LDLIBS)

$(BUILD)/tests/test_probe_match: tests/unit/test_probe_match.c $(BUILD)/libjitgate-agent.a | $(BUILD)/tests
	$(CC) $(JG_CFLAGS) -Iagent/include $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate-agent.a $(JG_LDLIBS) -lcmocka

# The agent's limits, capture, rate bucket, CPU guard and jga_enabled (agent/src/internal.h).
$(BUILD)/tests/test_agent_capture: tests/unit/test_agent_capture.c agent/src/internal.h \
		$(BUILD)/libjitgate-agent.a | $(BUILD)/tests
	$(CC) $(JG_CFLAGS) -Iagent/include -Iagent/src $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate-agent.a \
	  $(JG_LDLIBS) -lcmocka

# jitgate-probe (probe/, docs/agents.md "jitgate-probe"): the one BPF program compiled here with
# clang -target bpf against the running kernel's BTF (vmlinux.h is generated into $(BUILD), never
# committed), its bpftool skeleton, and the daemon that embeds it: no compiler at deploy time.
BPF_CC	?= clang-14
BPFTOOL ?= $(or $(shell command -v bpftool 2>/dev/null),/usr/sbin/bpftool)
PROBE_LIBS := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz) -lelf

$(BUILD)/probe/vmlinux.h: | $(BUILD)/probe
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/probe/jitgate_probe.bpf.o: probe/bpf/jitgate_probe.bpf.c probe/src/jitgate_probe.h \
		$(BUILD)/probe/vmlinux.h
	$(BPF_CC) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror \
	  -I$(BUILD)/probe -Iprobe/src -c -o $@ $<

$(BUILD)/probe/jitgate_probe.skel.h: $(BUILD)/probe/jitgate_probe.bpf.o
	$(BPFTOOL) gen skeleton $< name jitgate_probe > $@.tmp && mv $@.tmp $@

# The skeleton is generated code, included by skel.c alone: -isystem keeps the warnings about ours.
PROBE_SRCS := probe/src/probe.c probe/src/skel.c
$(BUILD)/jitgate-probe: $(PROBE_SRCS) probe/src/jitgate_probe.h probe/src/skel.h agent/src/internal.h \
		$(BUILD)/probe/jitgate_probe.skel.h $(BUILD)/libjitgate-agent.a
	$(CC) $(JG_CFLAGS) -Iagent/src -Iprobe/src -isystem $(BUILD)/probe $(JG_LDFLAGS) -o $@ \
	  $(PROBE_SRCS) $(BUILD)/libjitgate-agent.a $(JG_LDLIBS) $(PROBE_LIBS)

# The service to probe: -g -O1 keeps charge()'s symbol and its arguments in registers.
$(BUILD)/native_demo: probe/demo/native_demo.c
	$(CC) $(filter-out -O2 -O3,$(JG_CFLAGS)) -g -O1 $(JG_LDFLAGS) -o $@ $<

$(BUILD)/obj $(BUILD)/tests $(BUILD)/agent $(BUILD)/probe:
	mkdir -p $@

# Unit tests run from the repository root so they find migrations/ and tests/unit/data/.
# A test named *_pg runs against a throwaway PostgreSQL cluster of its own (tests/lib/pg-cluster.sh).
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
	  case $$t in *_pg) tests/lib/pg-cluster.sh run -- $$t ;; *) $$t ;; esac; done

unit-asan:
	$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" unit

e2e: build
	node --test --test-concurrency=1 $(or $(E2E),tests/e2e/)

# The same suite with JG_E2E_DB=postgres: one throwaway cluster for the run, a fresh database per
# jitgate instance (owned by the role that migrates it; jitgate serves as a role holding only
# jitgate_serving), SQLite-by-nature tests left to `make e2e` and their PostgreSQL counterparts
# run instead (tests/e2e/README.md).  E2E=tests/e2e/x.test.mjs runs one file.
e2e-pg: build
	JG_E2E_DB=postgres tests/lib/pg-cluster.sh run -- \
	  node --test --test-concurrency=1 $(or $(E2E),tests/e2e/)

# The e2e suite against build/lsan/jitgate (-fsanitize=address, LeakSanitizer on): servers are
# stopped with SIGTERM so the leak check runs at exit; every process writes its report under
# build/lsan/reports and tests/lsan/check.sh fails on any leak with a frame in jitgate's code.
LSAN_SAN := -fsanitize=address -fno-omit-frame-pointer
e2e-lsan:
	$(MAKE) --no-print-directory BUILD=build/lsan CFLAGS="-O1 -g $(LSAN_SAN)" LDFLAGS="$(LSAN_SAN)" build/lsan/jitgate
	rm -rf build/lsan/reports && mkdir -p build/lsan/reports
	JITGATE_BIN=$(CURDIR)/build/lsan/jitgate JG_E2E_STOP=SIGTERM \
	  ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:log_path=$(CURDIR)/build/lsan/reports/jitgate \
	  LSAN_OPTIONS=exitcode=0:suppressions=$(CURDIR)/tests/lsan/suppressions.txt:print_suppressions=1 \
	  node --test --test-concurrency=1 $(or $(E2E),tests/e2e/)
	tests/lsan/check.sh build/lsan/reports

# Both suites at once, each in its own process writing its own log (build/e2e-sqlite.log,
# build/e2e-pg.log), shown whole when both have ended: most of an e2e file's time is spent waiting
# (expiries, polls, the provider), so two on two cores take little longer than the slower one.
# The suites keep apart what they write: even ports for SQLite, odd for PostgreSQL; screenshots
# under build/screenshots and build/screenshots-pg; each instance its own directory and database.
e2e-both: build
	@set +e; \
	$(MAKE) --no-print-directory e2e >$(BUILD)/e2e-sqlite.log 2>&1 & sqlite=$$!; \
	$(MAKE) --no-print-directory e2e-pg >$(BUILD)/e2e-pg.log 2>&1 & pg=$$!; \
	wait $$sqlite; rs=$$?; wait $$pg; rp=$$?; \
	echo "== e2e on SQLite (exit $$rs)"; cat $(BUILD)/e2e-sqlite.log; \
	echo "== e2e on PostgreSQL (exit $$rp)"; cat $(BUILD)/e2e-pg.log; \
	echo "== e2e: SQLite exit $$rs, PostgreSQL exit $$rp"; \
	test $$rs -eq 0 && test $$rp -eq 0

# A mixed workload against one instance for SOAK_SECONDS at SOAK_RATE operations/s (tests/soak/).
soak: build
	node tests/soak/soak.mjs

# The builds run one compiler per core; the steps stay in order and every test binary and fuzz
# target still runs alone (the recipes that run them are single shell loops).  The e2e suite runs
# on both stores at once (e2e-both), one file at a time in each.
test: deps
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory -j$(LINT_JOBS) build
	$(MAKE) --no-print-directory -j$(LINT_JOBS) unit
	$(MAKE) --no-print-directory -j$(LINT_JOBS) unit-asan
	$(MAKE) --no-print-directory e2e-both
	$(MAKE) --no-print-directory -j$(LINT_JOBS) fuzz-smoke

dev-setup: build
	@deploy/dev-setup.sh

run: deps
	$(MAKE) --no-print-directory build
	@deploy/dev-setup.sh
	@deploy/run-dev.sh

# Two replicas on a throwaway PostgreSQL primary + synchronous standby (deploy/run-ha.sh); Ctrl-C
# stops and removes everything.
run-ha: deps
	$(MAKE) --no-print-directory build
	@deploy/run-ha.sh

bench: deps build $(BUILD)/bench/audit_bench $(BUILD)/bench/token_bench $(BUILD)/bench/guard_setup \
       $(BUILD)/bench/telemetry_bench $(BUILD)/bench/web_session $(BUILD)/bench/agent_bench
	bench/run.sh

# ---- lint (make lint: format, cppcheck, clang-tidy, the layer rule) ---------
# Every C file and header of the tree: the broker, the agent, tests, fuzz targets, benchmarks.
# probe/bpf/*.bpf.c is not among them on purpose: it is BPF C built by its own rule with
# clang -target bpf -Wall -Werror against the generated vmlinux.h, which the host tools cannot parse
# as the daemon's C (no -target bpf, a 100k-line header).
LINT_C   := $(wildcard src/*/*.c) $(AGENT_SRCS) agent/demo/payments_demo.c $(UNIT_SRCS) \
	    $(PROBE_SRCS) probe/demo/native_demo.c \
	    $(wildcard tests/agent/*.c) $(wildcard bench/*.c) $(wildcard fuzz/*.c) \
	    $(wildcard fuzz/tools/*.c)
LINT_H   := $(wildcard src/*/*.h) $(wildcard include/jitgate/*.h) $(wildcard agent/include/*.h) \
	    $(wildcard agent/src/*.h) $(wildcard fuzz/*.h) $(wildcard probe/src/*.h)
TIDY     ?= clang-tidy
# cppcheck and clang-tidy run LINT_JOBS files at a time (one per core by default).
LINT_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# probe/src/skel.c only includes the bpftool skeleton, whose generated create function the
# analyzer reports as a leak (bpf_object__destroy_skeleton frees it): left out of clang-tidy alone.
TIDY_OK  := $(patsubst %.c,$(BUILD)/tidy/%.ok,$(filter-out probe/src/skel.c,$(LINT_C)))

format:
	clang-format -i $(LINT_C) $(LINT_H)

lint: lint-format lint-cppcheck lint-tidy lint-layers

lint-format:
	@echo "clang-format --dry-run --Werror (every C file and header)"
	@clang-format --dry-run --Werror $(LINT_C) $(LINT_H)

lint-cppcheck:
	cppcheck -j$(LINT_JOBS) --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
	  --suppress=missingIncludeSystem --library=tools/cppcheck/jansson.cfg -Iinclude -Iagent/include -Iagent/src \
	  -Iprobe/src src agent bench fuzz tests/unit tests/agent probe/src probe/demo

# clang-tidy with the checks of .clang-tidy (each disabled one says why there); any finding fails.
lint-tidy: $(BUILD)/compile_commands.json
	@$(MAKE) --no-print-directory -j$(LINT_JOBS) tidy-files

lint-layers:
	tools/check-layers.sh

# A file is checked again when it, a header, .clang-tidy or its compile command changed.
tidy-files: $(TIDY_OK)

$(BUILD)/tidy/%.ok: %.c .clang-tidy $(LINT_H) $(BUILD)/compile_commands.json
	@mkdir -p $(dir $@)
	@echo "tidy $<"
	@$(TIDY) -p $(BUILD) --quiet $< 2>/dev/null && touch $@

# The compile command of every C file lint looks at, for clang-tidy (and editors): the flags of
# its build rule.  Rewritten only when it changes, so unchanged files are not checked again.
lint_flags = $(JG_CFLAGS) $(if $(filter src/%,$(1)),,-Iagent/include -Iagent/src) \
	     $(if $(filter probe/%,$(1)),-Iprobe/src -isystem $(BUILD)/probe)
define compdb_entry
{"directory": "$(CURDIR)", "file": "$(1)", "command": "$(CC) $(lint_flags) -c $(1)"}
endef
$(BUILD)/compile_commands.json: FORCE | $(BUILD)/obj
	$(file >$@.tmp,[)
	$(file >>$@.tmp,$(call compdb_entry,$(firstword $(LINT_C))))
	$(foreach f,$(wordlist 2,$(words $(LINT_C)),$(LINT_C)),$(file >>$@.tmp,,$(call compdb_entry,$(f))))
	$(file >>$@.tmp,])
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

FORCE:

clean:
	rm -rf build

$(BUILD)/bench/audit_bench: bench/audit_bench.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)

$(BUILD)/bench/token_bench: bench/token_bench.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)

# The reference agent's cost per call (bench/agent.sh): its probes installed through internal.h's hook.
$(BUILD)/bench/agent_bench: bench/agent_bench.c bench/bench_args.h agent/src/internal.h \
		$(BUILD)/libjitgate-agent.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) -Iagent/include -Iagent/src $(JG_LDFLAGS) -o $@ $< \
	  $(BUILD)/libjitgate-agent.a $(JG_LDLIBS)

$(BUILD)/bench/guard_setup: bench/guard_setup.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)

# ---- fuzzing (fuzz/, docs/fuzzing.md) ---------------------------------------
# libFuzzer targets built with Debian's clang under ASan+UBSan, apart from the
# main build (its flags are untouched).  `make fuzz` runs each FUZZ_SECONDS from
# its checked-in seeds (fuzz/corpus/<target>/) after replaying its regressions
# (fuzz/regressions/<target>/); `make test` does the same for FUZZ_SMOKE_SECONDS.
FUZZ_CC		   ?= clang-14
FUZZ_SECONDS	   ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_BUILD	   := build/fuzz
FUZZ_SAN	   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# libmicrohttpd's log callback hands server.c a format string; gcc accepts it, clang warns.
FUZZ_CLANG_CFLAGS  := -Wno-format-nonliteral
FUZZ_TARGETS	   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

fuzz-build:
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
	  CFLAGS="-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link" LDFLAGS="$(FUZZ_SAN)" \
	  EXTRA_CFLAGS="$(FUZZ_CLANG_CFLAGS)" fuzz-bins

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzzers/%) $(BUILD)/fuzzers/make_audit_seeds

$(BUILD)/fuzzers/%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(BUILD)/libjitgate.a $(BUILD)/libjitgate-agent.a
	@mkdir -p $(BUILD)/fuzzers
	$(CC) $(JG_CFLAGS) -Iagent/include -fsanitize=fuzzer $(JG_LDFLAGS) -o $@ $< \
	  $(BUILD)/libjitgate.a $(BUILD)/libjitgate-agent.a $(JG_LDLIBS)

# Writes the seeds of fuzz/corpus/audit_export/ (run by hand; see the file).
$(BUILD)/fuzzers/make_audit_seeds: fuzz/tools/make_audit_seeds.c $(BUILD)/libjitgate.a
	@mkdir -p $(BUILD)/fuzzers
	$(CC) $(JG_CFLAGS) -fsanitize=fuzzer-no-link $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a \
	  $(JG_LDLIBS)

fuzz: deps fuzz-build
	fuzz/run.sh $(FUZZ_BUILD)/fuzzers $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	fuzz/run.sh $(FUZZ_BUILD)/fuzzers $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

$(BUILD)/bench/telemetry_bench: bench/telemetry_bench.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)

$(BUILD)/bench/web_session: bench/web_session.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)
