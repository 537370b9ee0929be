# smtpmon -- see README.md. Targets: all (build/smtpmon), run, test, soak, bench, bench-fleet, fuzz, lint, deps,
# install, clean. Out-of-tree builds: build/ (release), build-asan/ (ASan+UBSan tests).

CC ?= cc
PREFIX ?= /usr/local
V ?= 0
WERROR ?= 0

# Debian 12 packages needed to build and test (installed by 'make deps' when root).
BUILD_DEPS = gcc make pkg-config libev-dev libpcre2-dev libhiredis-dev libcriterion-dev \
             libinih-dev libsystemd-dev zlib1g-dev libmicrohttpd-dev
TEST_DEPS = redis-server logrotate jq systemd-journal-remote systemd-container procps util-linux gzip \
            build-essential debhelper dpkg-dev fakeroot lintian rpm man-db groff-base systemd tmux \
            python3 prometheus curl time chromium chromium-driver

PKGS = libpcre2-8 zlib inih libsystemd hiredis libmicrohttpd
# Evaluated when make starts: the targets that install packages first ('run', 'test') build in a
# sub-make, which reads them again; 'check-libs' stops a build that would fail at link and names
# the missing packages.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libsystemd (the journal source) and libmicrohttpd (serve) are loaded with dlopen by the code
# that needs them (agent/journal.c, exporters/mhd.c), not linked: with the libraries they bring
# they are 3.3 MiB of every process's memory. Their headers are still needed to build.
PKGS_LINKED = libpcre2-8 zlib inih hiredis
PKG_LIBS := $(shell pkg-config --libs $(PKGS_LINKED) 2>/dev/null)

# The real-log corpus (read-only, outside the project). Its tests are reported as not run when it
# is absent; REQUIRE_CORPUS=1 (set by .ci/run) makes its absence an error.
SMTPMON_CORPUS ?= $(abspath ../shared/corpus)
export SMTPMON_CORPUS

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
       -Wpointer-arith -Wvla -Wno-missing-field-initializers
ifeq ($(WERROR),1)
WARN += -Werror
endif
CPPFLAGS_ALL = -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8 -Iagent/core -Iagent/common -Iagent -Iexporters $(PKG_CFLAGS) \
               -DSMTPMON_PATTERNS_DIR='"$(PREFIX)/share/smtpmon/patterns"'
CFLAGS_ALL = -std=c11 -O2 -g $(WARN) $(CFLAGS)
LIBS = -Wl,-O1 -Wl,--as-needed $(PKG_LIBS) -lev -lpthread -lm -ldl
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer

# The pure core: whatever agent/core/ holds. No I/O, no libev, no hiredis, no logging: it links with
# libc, PCRE2 and libm alone (make test-core-link). Unit-tested and fuzzed.
CORE_SRCS = $(wildcard agent/core/*.c)
# The edge: every file of agent/common/, agent/ and exporters/ (a new file there is built and linked);
# main (agent/cmd/) apart, so that the unit tests link the rest.
EDGE_SRCS = $(wildcard agent/common/*.c agent/*.c exporters/*.c) build/gen/web_assets.c
MAIN_SRC = agent/cmd/main.c
UNIT_SRCS = $(wildcard tests/unit/test_*.c)

OBJ = build/obj
AOBJ = build-asan/obj
CORE_OBJS = $(CORE_SRCS:%.c=$(OBJ)/%.o)
EDGE_OBJS = $(EDGE_SRCS:%.c=$(OBJ)/%.o)
UNIT_OBJS = $(UNIT_SRCS:%.c=$(OBJ)/%.o)
ACORE_OBJS = $(CORE_SRCS:%.c=$(AOBJ)/%.o)
AEDGE_OBJS = $(EDGE_SRCS:%.c=$(AOBJ)/%.o)
AUNIT_OBJS = $(UNIT_SRCS:%.c=$(AOBJ)/%.o)

ifeq ($(V),1)
Q =
else
Q = @
endif

PHONY_EXTRA = print-deps check-run-deps check-libs test-fresh readme test-integration-asan deb rpm man test-packaging
.PHONY: soak all run test test-unit test-asan test-corpus test-fuzz test-integration test-headers \
        test-core-link test-arrows \
        bench bench-fleet fuzz lint deps check-deps install clean $(PHONY_EXTRA)

all: build/smtpmon

build/smtpmon: $(CORE_OBJS) $(EDGE_OBJS) $(OBJ)/$(MAIN_SRC:.c=.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS)

$(OBJ)/%.o: %.c | check-libs
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(AOBJ)/%.o: %.c | check-libs
	@mkdir -p $(dir $@)
	@echo "  CC-ASAN $<"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(ASAN_FLAGS) -MMD -MP -c -o $@ $<

build/unit-tests: $(UNIT_OBJS) $(CORE_OBJS) $(EDGE_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS) -lcriterion

build-asan/unit-tests: $(AUNIT_OBJS) $(ACORE_OBJS) $(AEDGE_OBJS)
	@echo "  LD-ASAN $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(ASAN_FLAGS) -o $@ $^ $(LIBS) -lcriterion

build/fuzz-replay: tests/fuzz/fuzz_line.c tests/fuzz/replay.c $(ACORE_OBJS) \
                   $(AOBJ)/agent/common/rules_load.o $(AOBJ)/agent/common/stats_print.o
	@echo "  LD-ASAN $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/fuzz-replay-config: tests/fuzz/fuzz_config.c tests/fuzz/replay.c $(AOBJ)/agent/common/config.o \
                          $(AOBJ)/agent/core/errlist.o $(AOBJ)/agent/core/relays.o
	@echo "  LD-ASAN $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

# The live page of serve, compiled into the binary.
WEB_FILES = exporters/web/index.html exporters/web/app.js exporters/web/style.css
build/gen/web_assets.c: $(WEB_FILES) exporters/web/embed.sh
	@mkdir -p $(dir $@)
	@echo "  EMBED   $@"
	$(Q)sh exporters/web/embed.sh $@ $(WEB_FILES)

-include $(shell find build/obj build-asan/obj -name '*.d' -type f 2>/dev/null)

# ---------------------------------------------------------------------------------------
# The two commands.

# The build runs in a sub-make so that pkg-config sees the packages check-run-deps installed.
run: check-run-deps
	@$(MAKE) --no-print-directory build/smtpmon
	@bash tests/run.sh

test: check-deps
	@sh tests/corpus-status.sh
	$(MAKE) --no-print-directory WERROR=1 test-headers test-arrows test-core-link build/smtpmon \
	  build/unit-tests
	$(MAKE) --no-print-directory WERROR=1 test-unit test-asan test-fuzz test-integration \
	  test-integration-asan \
	  test-packaging

test-unit: build/unit-tests
	@echo "== unit tests (Criterion)"
	$(Q)build/unit-tests -j2

# LeakSanitizer reports do not fail a Criterion test by themselves: grep for them.
test-asan: build-asan/unit-tests
	@echo "== unit tests under ASan+UBSan"
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  build-asan/unit-tests -j2 > build-asan/unit-tests.log 2>&1; rc=$$?; \
	  tail -n 3 build-asan/unit-tests.log; \
	  if grep -q 'ERROR: LeakSanitizer\|runtime error:\|ERROR: AddressSanitizer' \
	      build-asan/unit-tests.log; then \
	    grep -B2 -A20 'ERROR: LeakSanitizer\|runtime error:\|ERROR: AddressSanitizer' \
	      build-asan/unit-tests.log | head -n 60; echo "sanitizer report: FAIL"; exit 1; fi; \
	  exit $$rc

test-fuzz: build/fuzz-replay build/fuzz-replay-config
	@echo "== fuzz corpus replay (ASan+UBSan)"
	$(Q)build/fuzz-replay tests/fuzz/corpus
	$(Q)build/fuzz-replay-config tests/fuzz/corpus-config

# IT_JOBS tests at once; those marked '# serial' run alone afterwards (tests/integration/run.sh).
IT_JOBS ?= 2
test-integration: build/smtpmon
	@echo "== integration tests"
	$(Q)JOBS=$(IT_JOBS) sh tests/integration/run.sh

# The same integration tests with the agent built with ASan+UBSan: any report fails a test.
build-asan/smtpmon: $(ACORE_OBJS) $(AEDGE_OBJS) $(AOBJ)/$(MAIN_SRC:.c=.o)
	@echo "  LD-ASAN $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

test-integration-asan: build-asan/smtpmon
	@echo "== integration tests, agent under ASan+UBSan"
	$(Q)SMTPMON=$(CURDIR)/build-asan/smtpmon ASAN_OPTIONS=detect_leaks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 JOBS=$(IT_JOBS) sh tests/integration/run.sh

# Every header compiles on its own; the pure core never includes libev, hiredis or a header from
# outside agent/core/.
test-headers:
	@echo "== header self-containment"
	$(Q)set -e; for h in agent/core/*.h agent/common/*.h agent/*.h exporters/*.h; do [ -f "$$h" ] || continue; \
	  printf '#include "%s"\n' "$$(basename $$h)" | \
	  $(CC) $(CPPFLAGS_ALL) -std=c11 -Wall -Werror -fsyntax-only -x c - || \
	  { echo "header not self-contained: $$h"; exit 1; }; done
	$(Q)! grep -l '#include <ev.h>\|#include <hiredis' $(CORE_SRCS) $(CORE_SRCS:.c=.h) \
	  2>/dev/null || { echo "pure core includes libev or hiredis"; exit 1; }
	$(Q)bad=$$(grep -o '^#include "[^"]*"' agent/core/*.[ch] | sed 's/#include "\(.*\)"/\1/' | \
	  while IFS=: read -r f h; do [ -f "agent/core/$$h" ] || echo "$$f includes $$h"; done); \
	  [ -z "$$bad" ] || { echo "$$bad"; echo "pure core includes a header from outside agent/core/"; exit 1; }

# The includes between the rooms run one way: agent/cmd/ -> agent/ and exporters/ -> agent/common/ ->
# agent/core/ (tests/arrows.sh names each one that does not).
test-arrows:
	@echo "== arrows between the rooms"
	$(Q)sh tests/arrows.sh

# The pure core links with libc, PCRE2 and libm alone and calls no libc function that does I/O
# (open, fopen, printf, opendir, ...): the list of what it may call is in tests/core-link.sh.
test-core-link: $(CORE_OBJS)
	@echo "== pure core: links alone, does no I/O"
	$(Q)CC="$(CC)" PCRE2_LIBS="$$(pkg-config --libs libpcre2-8)" sh tests/core-link.sh $(CORE_OBJS)

# The model-based random test (tests/integration/model/driver.py) on new seeds until SECONDS
# have passed; prints every seed, the number of sequences and operations, and the replay
# command of a failing seed (SEED=N sh tests/integration/test_model_random.sh).
SECONDS ?= 3600
soak: build/smtpmon
	@echo "== soak: model-based random sequences for $(SECONDS)s"
	$(Q)python3 tests/integration/model/driver.py --seconds $(SECONDS)

bench: build/smtpmon
	@bash tests/bench/bench.sh
	@if command -v redis-server >/dev/null; then bash tests/bench/redis-bench.sh; \
	else echo 'SKIP redis-bench: needs redis-server'; fi
	@if command -v redis-server >/dev/null && command -v curl >/dev/null; then \
	  bash tests/bench/serve-bench.sh; \
	else echo 'SKIP serve-bench: needs redis-server and curl'; fi

# A fleet of agents against one redis-server (tests/bench/fleet-bench.sh; FLEET_SIZES, default
# 10 100 1000; see README "Fleet sizing"). Minutes per size: not part of bench or test.
bench-fleet: build/smtpmon build/bench/fleet-sim
	@bash tests/bench/fleet-bench.sh $(FLEET_SIZES)

# One process hosting many agent ids through the Redis exporter (fleet-bench.sh, FLEET_SIM).
build/bench/fleet-sim: tests/bench/fleet-sim.c $(CORE_OBJS) $(EDGE_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $^ $(LIBS)

# libFuzzer builds (clang) of the line and configuration targets, FUZZ_SECONDS each:
# make fuzz FUZZ_SECONDS=600
FUZZ_SECONDS ?= 60
fuzz:
	@mkdir -p build/fuzz/corpus
	clang $(CPPFLAGS_ALL) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	  -o build/fuzz/fuzz_line tests/fuzz/fuzz_line.c $(CORE_SRCS) agent/common/rules_load.c \
	  agent/common/stats_print.c $(PKG_LIBS) -lm
	build/fuzz/fuzz_line -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -artifact_prefix=build/fuzz/ build/fuzz/corpus tests/fuzz/corpus
	@mkdir -p build/fuzz/corpus-config
	clang $(CPPFLAGS_ALL) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	  -o build/fuzz/fuzz_config tests/fuzz/fuzz_config.c agent/common/config.c agent/core/errlist.c agent/core/relays.c \
	  $(PKG_LIBS) -lm
	build/fuzz/fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -artifact_prefix=build/fuzz/config- build/fuzz/corpus-config tests/fuzz/corpus-config

lint:
	clang-format --dry-run --Werror agent/cmd/*.[ch] agent/common/*.[ch] agent/*.[ch] agent/core/*.[ch] exporters/*.[ch] tests/unit/*.c tests/fuzz/*.c tests/bench/*.c tests/integration/*.c

# ---------------------------------------------------------------------------------------
# Dependencies: installed when root, otherwise the exact command is printed.

# 'make run' needs only the build and a redis-server; 'make test' needs everything.
check-run-deps:
	@sh tests/deps.sh $(BUILD_DEPS) redis-server

check-deps:
	@sh tests/deps.sh $(BUILD_DEPS) $(TEST_DEPS)

deps: check-deps

# Stops before the compiler when a library is missing, naming the Debian packages.
check-libs:
	@sh tests/libs.sh

# What .ci/run installs: the build, the tests and the fresh-machine test.
FRESH_DEPS = mmdebstrap git tmux systemd-container
print-deps:
	@echo $(BUILD_DEPS) $(TEST_DEPS) $(FRESH_DEPS)

install: build/smtpmon
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/smtpmon/patterns
	install -m 0755 build/smtpmon $(DESTDIR)$(PREFIX)/bin/smtpmon
	install -m 0644 patterns/*.rules $(DESTDIR)$(PREFIX)/share/smtpmon/patterns/

# ---------------------------------------------------------------------------------------
# Packages, built out of tree from a copy of the sources in build/pkg/ (see packaging/).

PKG_VERSION := $(shell sed -n '1s/^smtpmon (\([^)-]*\).*/\1/p' packaging/debian/changelog)
PKG_TREE = build/pkg/deb/smtpmon-$(PKG_VERSION)
PKG_EXCLUDE = --exclude=./build --exclude=./build-asan --exclude=./.git --exclude=./debian

deb:
	@echo "  DEB     build/smtpmon_$(PKG_VERSION)_*.deb"
	$(Q)rm -rf build/pkg/deb && mkdir -p $(PKG_TREE)
	$(Q)tar -c $(PKG_EXCLUDE) . | tar -x -C $(PKG_TREE)
	$(Q)cp -r packaging/debian $(PKG_TREE)/debian
	$(Q)cp packaging/systemd/smtpmon.service $(PKG_TREE)/debian/smtpmon.service
	$(Q)cp packaging/systemd/smtpmon-serve.service $(PKG_TREE)/debian/smtpmon.smtpmon-serve.service
	$(Q)cd $(PKG_TREE) && dpkg-buildpackage -b -us -uc > ../build.log 2>&1 || \
	  { tail -n 40 ../build.log; exit 1; }
	$(Q)cp build/pkg/deb/smtpmon_$(PKG_VERSION)_*.deb build/ && rm -rf $(PKG_TREE)

# rpmbuild on Debian: no RPM database to check BuildRequires against, no debugedit.
RPM_HOST_FLAGS := $(if $(wildcard /etc/debian_version),--nodeps --define "debug_package %{nil}")

rpm:
	@echo "  RPM     build/smtpmon-$(PKG_VERSION)-*.rpm"
	$(Q)rm -rf build/pkg/rpm && mkdir -p build/pkg/rpm/SOURCES build/pkg/rpm/src/smtpmon-$(PKG_VERSION)
	$(Q)tar -c $(PKG_EXCLUDE) . | tar -x -C build/pkg/rpm/src/smtpmon-$(PKG_VERSION)
	$(Q)tar -czf build/pkg/rpm/SOURCES/smtpmon-$(PKG_VERSION).tar.gz -C build/pkg/rpm/src \
	  smtpmon-$(PKG_VERSION)
	$(Q)rpmbuild -bb $(RPM_HOST_FLAGS) --define "_topdir $(CURDIR)/build/pkg/rpm" \
	  --define "version $(PKG_VERSION)" packaging/rpm/smtpmon.spec \
	  > build/pkg/rpm/build.log 2>&1 || { tail -n 40 build/pkg/rpm/build.log; exit 1; }
	$(Q)cp build/pkg/rpm/RPMS/*/smtpmon-$(PKG_VERSION)-*.rpm build/

man:
	@echo "  MAN     build/man"
	$(Q)mkdir -p build/man
	$(Q)for m in packaging/man/smtpmon.8 packaging/man/smtpmon.conf.5; do \
	  MANWIDTH=80 man --warnings -l $$m > build/man/$$(basename $$m).txt 2> build/man/warnings || \
	  exit 1; if [ -s build/man/warnings ]; then cat build/man/warnings; exit 1; fi; done

# Rewrites the README's checked examples with what the commands print now.
readme: build/smtpmon
	@python3 tests/readme/examples.py --update

# The README's two commands on a Debian 12 root built from nothing (mmdebstrap, systemd-nspawn).
test-fresh:
	@bash tests/fresh/fresh.sh

test-packaging: build/smtpmon
	@echo "== packaging tests"
	$(Q)bash tests/packaging/run.sh

clean:
	rm -rf build build-asan
