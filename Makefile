# jitgate — build, test, run.  See README.md.
#
#   make run     install what is missing, build, create dev keys/certs, start jitgate
#   make test    unit tests, the same under ASan+UBSan, then the end-to-end tests
#   make bench   benchmarks against limits measured in the same run (not part of test)

CC      ?= cc
BUILD   ?= build
PKGS    := openssl libjwt libmicrohttpd sqlite3 jansson yaml-0.1 libcurl liboauth2 zlib
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

LIB_SRCS  := $(filter-out src/main.c,$(wildcard src/*.c)) $(wildcard src/web/*.c)
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
WEB_ASSETS := $(wildcard src/web/*.css src/web/*.js)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
AGENT_SRCS := $(wildcard agent/src/*.c)
AGENT_OBJS := $(AGENT_SRCS:agent/src/%.c=$(BUILD)/agent/%.o)

.PHONY: all deps build unit unit-asan e2e test run bench lint format clean dev-setup

all: build
build: $(BUILD)/jitgate $(BUILD)/libjitgate-agent.a $(BUILD)/payments_demo $(BUILD)/tests/agent_resend

deps:
	@deploy/install-deps.sh

$(BUILD)/obj/%.o: src/%.c $(wildcard include/jitgate/*.h src/*.h src/web/*.h) | $(BUILD)/obj
	@mkdir -p $(dir $@)
	$(CC) $(JG_CFLAGS) -c -o $@ $<

# The stylesheet and script are compiled into the binary (.incbin in src/web/assets.c).
$(BUILD)/obj/web/assets.o: $(WEB_ASSETS)

$(BUILD)/libjitgate.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/jitgate: $(BUILD)/obj/main.o $(BUILD)/libjitgate.a
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $^ $(JG_LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libjitgate.a | $(BUILD)/tests
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS) -lcmocka

# The reference agent (agent/, docs/agents.md): its own library, a demo service, its unit test.
$(BUILD)/agent/%.o: agent/src/%.c agent/include/jitgate-agent.h | $(BUILD)/agent
	$(CC) $(JG_CFLAGS) -Iagent/include -c -o $@ $<

$(BUILD)/libjitgate-agent.a: $(AGENT_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/payments_demo: agent/demo/payments_demo.c $(BUILD)/libjitgate-agent.a
	$(CC) $(JG_CFLAGS) -Iagent/include $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate-agent.a $(JG_LDLIBS)

# A driver for the agent's resend-after-400 test (tests/e2e/probes-agent.test.mjs).
$(BUILD)/tests/agent_resend: tests/agent/agent_resend.c $(BUILD)/libjitgate-agent.a | $(BUILD)/tests
	$(CC) $(JG_CFLAGS) -Iagent/include $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate-agent.a $(JG_LDLIBS)

$(BUILD)/tests/test_probe_match: tests/unit/test_probe_match.c $(BUILD)/libjitgate-agent.a | $(BUILD)/tests
	$(CC) $(JG_CFLAGS) -Iagent/include $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate-agent.a $(JG_LDLIBS) -lcmocka

$(BUILD)/obj $(BUILD)/tests $(BUILD)/agent:
	mkdir -p $@

# Unit tests run from the repository root so they find migrations/ and tests/unit/data/.
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

unit-asan:
	$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" unit

e2e: build
	node --test --test-concurrency=1 tests/e2e/

test: deps
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory unit-asan
	$(MAKE) --no-print-directory e2e

dev-setup: build
	@deploy/dev-setup.sh

run: deps
	$(MAKE) --no-print-directory build
	@deploy/dev-setup.sh
	@deploy/run-dev.sh

bench: deps build $(BUILD)/bench/audit_bench $(BUILD)/bench/token_bench $(BUILD)/bench/guard_setup \
       $(BUILD)/bench/telemetry_bench
	bench/run.sh

format:
	clang-format -i src/*.c src/web/*.c src/web/*.h include/jitgate/*.h tests/unit/*.c

lint:
	clang-format --dry-run --Werror src/*.c src/web/*.c src/web/*.h include/jitgate/*.h tests/unit/*.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
	  --suppress=missingIncludeSystem -Iinclude src tests/unit

clean:
	rm -rf build

$(BUILD)/bench/audit_bench: bench/audit_bench.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)

$(BUILD)/bench/token_bench: bench/token_bench.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)

$(BUILD)/bench/guard_setup: bench/guard_setup.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)

$(BUILD)/bench/telemetry_bench: bench/telemetry_bench.c $(BUILD)/libjitgate.a
	mkdir -p $(BUILD)/bench
	$(CC) $(JG_CFLAGS) $(JG_LDFLAGS) -o $@ $< $(BUILD)/libjitgate.a $(JG_LDLIBS)
