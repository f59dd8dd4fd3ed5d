# dbmd — database connection broker.  Plain GNU make; `make help` lists targets.

PKG_CONFIG ?= pkg-config
OBJCOPY ?= objcopy
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
SYSUSERSDIR ?= $(shell $(PKG_CONFIG) --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)
DESTDIR ?=

# The Python package is built for, tested with and installed for Debian's interpreter, to
# which python3-dev, python3-pytest and python3-psycopg2 belong; a python3 earlier on PATH
# (pyenv, a venv) may be another version without them.
PYTHON ?= /usr/bin/python3
# Read once: the extension's file name suffix, the header directories and the X.Y version.
# Silently empty where there is no interpreter yet, so that make deps still works.
PY_VARS := $(shell $(PYTHON) -c 'import sys, sysconfig as s; p = s.get_paths(); \
	print(s.get_config_var("EXT_SUFFIX"), "%d.%d" % sys.version_info[:2], \
	p["include"], p["platinclude"])' 2>/dev/null)
PY_EXT_SUFFIX := $(word 1,$(PY_VARS))
PY_VERSION := $(word 2,$(PY_VARS))
PY_INCLUDES := $(sort $(wordlist 3,4,$(PY_VARS)))
# Where Debian's interpreter finds packages: the system's directory for PREFIX=/usr, else
# the prefix's versioned dist-packages, which for /usr/local is on the default sys.path.
PYTHONDIR ?= $(strip $(if $(filter /usr,$(PREFIX)),/usr/lib/python3/dist-packages,\
	$(PREFIX)/lib/python$(PY_VERSION)/dist-packages))

# Out-of-tree build directory; `make asan` uses a directory of its own.
B ?= build

VERSION := 0.2.0

# Recursive (=) on purpose: pkg-config runs only when something is compiled, so
# `make deps` works on a machine that does not have the packages yet.
PKGS = libevent sqlite3 libpq yaml-0.1 libsystemd
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS))
CRITERION_LIBS = $(shell $(PKG_CONFIG) --libs criterion)

WARNINGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wimplicit-fallthrough
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif

CFLAGS ?= -O2 -g
SANITIZE ?=
# -fPIC everywhere: the proto objects go into the shared client library too.
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DDBMD_VERSION='"$(VERSION)"' $(WARNINGS) \
	-MMD -MP -fPIC -Iproto -Idaemon -Iclient $(PKG_CFLAGS) $(SANITIZE) $(CFLAGS)
ALL_LDFLAGS = $(SANITIZE) $(LDFLAGS)

ifeq ($(V),1)
Q =
qecho = @:
else
Q = @
qecho = @printf '  %-6s %s\n'
endif

PROTO_SRC := $(wildcard proto/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CLIENT_SRC := $(filter-out client/dbmctl.c client/example.c client/example_async.c,\
	$(wildcard client/*.c))
TEST_SRC := $(wildcard tests/test_*.c)

PROTO_OBJ := $(PROTO_SRC:%.c=$(B)/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(B)/%.o)
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(B)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)

# libdbmclient: SONAME carries the major version; only dbm_* is exported.
LIB_MAJOR := 1
LIB_SO := libdbmclient.so.$(LIB_MAJOR)

# clang and libclang-rt-dev are for make fuzz: libFuzzer's runtime is in the latter, which
# clang only recommends and an install without recommends leaves out.
DEPS_PKGS := gcc make pkg-config libevent-dev libsqlite3-dev libpq-dev libyaml-dev \
	libsystemd-dev libcriterion-dev postgresql valgrind systemd python3 pgbouncer \
	gnuplot-nox clang libclang-rt-dev python3-dev python3-pytest python3-psycopg2 \
	python3-psycopg python3-setuptools python3-wheel python3-venv python3-pip

.PHONY: all python check check-python faults asan valgrind fuzz fuzz-build fuzz-seeds \
	install uninstall clean deps help demo bench

all: $(B)/dbmd $(B)/dbmctl $(B)/example $(B)/example_async $(B)/$(LIB_SO) $(B)/libdbmclient.a \
	python

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(qecho) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Everything but main(), so that unit tests link the real modules.
$(B)/libdbmd.a: $(DAEMON_OBJ) $(PROTO_OBJ)
	$(qecho) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/dbmd: $(B)/daemon/main.o $(B)/libdbmd.a
	$(qecho) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The static library is one relocatable object in which only dbm_* stays global, as the
# version script has it for the shared one: proto_* and dbmc_* cannot collide with an
# application's names.
$(B)/libdbmclient.a: $(CLIENT_OBJ) $(PROTO_OBJ)
	$(qecho) AR $@
	$(Q)$(LD) -r -o $(B)/client/libdbmclient-all.o $^
	$(Q)$(OBJCOPY) -w --keep-global-symbol='dbm_*' $(B)/client/libdbmclient-all.o
	$(Q)rm -f $@ && $(AR) rcs $@ $(B)/client/libdbmclient-all.o

$(B)/$(LIB_SO): $(CLIENT_OBJ) $(PROTO_OBJ) client/libdbmclient.map
	$(qecho) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,$(LIB_SO) \
		-Wl,--version-script=client/libdbmclient.map -o $@ $(CLIENT_OBJ) $(PROTO_OBJ)
	$(Q)ln -sf $(LIB_SO) $(B)/libdbmclient.so

# dbmctl and the example link the static library, so they run from the build tree.
$(B)/dbmctl: $(B)/client/dbmctl.o $(B)/libdbmclient.a
	$(qecho) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

$(B)/example: $(B)/client/example.o $(B)/libdbmclient.a
	$(qecho) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

$(B)/example_async: $(B)/client/example_async.o $(B)/libdbmclient.a
	$(qecho) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs libevent)

# The Python package dbmclient, importable with PYTHONPATH=$(B)/python: its modules and
# the extension module, which links the static library with the project's compiler and
# warnings.  Only PyInit__dbmclient is exported: the module is hidden by default and
# --exclude-libs hides the library's dbm_*, which another module's libdbmclient.so could
# otherwise interpose.
PY_PKG := $(B)/python/dbmclient
PY_EXT := $(PY_PKG)/_dbmclient$(PY_EXT_SUFFIX)
PY_MODULES := $(patsubst client/python/dbmclient/%,$(PY_PKG)/%,\
	$(wildcard client/python/dbmclient/*.py))

python: $(PY_EXT) $(PY_MODULES)

$(B)/client/python/_dbmclient.o: client/python/_dbmclient.c
	@test -n "$(PY_EXT_SUFFIX)" || { echo "$(PYTHON) does not run (make deps)" >&2; exit 1; }
	@mkdir -p $(@D)
	$(qecho) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -fvisibility=hidden $(PY_INCLUDES:%=-I%) -c -o $@ $<

$(PY_EXT): $(B)/client/python/_dbmclient.o $(B)/libdbmclient.a
	@mkdir -p $(@D)
	$(qecho) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -shared -Wl,--exclude-libs,ALL -o $@ $^

$(PY_PKG)/%.py: client/python/dbmclient/%.py
	@mkdir -p $(@D)
	$(Q)cp $< $@

# The benchmark: dbmd against direct libpq and PgBouncer (tests/bench/README).
$(B)/bench: tests/bench/bench.c $(B)/libdbmclient.a
	@mkdir -p $(@D)
	$(qecho) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(B)/libdbmclient.a $(PKG_LIBS) -lpthread -lm

bench: all $(B)/bench
	sh tests/bench/run.sh $(abspath $(B))

$(B)/tests/%: tests/%.c $(B)/libdbmd.a $(B)/libdbmclient.a
	@mkdir -p $(@D)
	$(qecho) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(ALL_LDFLAGS) -o $@ $< $(B)/libdbmd.a \
		$(B)/libdbmclient.a $(PKG_LIBS) $(CRITERION_LIBS) -lpthread

# A preloaded allocator that fails large allocations (tests/test_oom.c); never sanitized:
# a sanitizer brings its own allocator and its own way to fail (allocator_may_return_null).
$(B)/tests/libfault_alloc.so: tests/fault_alloc.c
	@mkdir -p $(@D)
	$(qecho) CC $<
	$(Q)$(CC) -O2 -Wall -fPIC -shared -o $@ $<

# What every test run is told: the programs under test and the sources, the build's
# sanitizer flags, what runs each test program (valgrind, or nothing), the interpreter,
# and the sanitizer runtime that interpreter must preload to load an ASan-built extension.
TEST_RUN ?=
TEST_PRELOAD = $(if $(findstring -fsanitize=address,$(SANITIZE)),\
	$(shell $(CC) -print-file-name=libasan.so))
TEST_ENV = TEST_DBMD_BIN=$(abspath $(B)/dbmd) TEST_BUILDDIR=$(abspath $(B)) \
	TEST_SRCDIR=$(CURDIR) TEST_CFLAGS='$(SANITIZE)' TEST_RUN='$(TEST_RUN)' \
	TEST_ARGS='$(TEST_ARGS)' TEST_PYTHON='$(PYTHON)' TEST_PRELOAD='$(strip $(TEST_PRELOAD))'

# tests/run_tests.sh runs every test program and fails if any test failed or a sanitizer
# or valgrind (TEST_RUN) reported anything; then tests/run_python_tests.sh runs the Python
# package's tests, whatever the C tests did, against the package in $(B)/python, and the
# front door's (tests/frontdoor: psql, pgbench, psycopg2, psycopg, node-postgres).  All
# share the private PostgreSQL server of tests/pg_harness.sh, and any failing fails
# check.  The interpreter itself never runs under valgrind (too slow, and not ours).
check: all $(TEST_BIN) $(B)/tests/libfault_alloc.so
	@$(TEST_ENV) sh tests/pg_harness.sh sh -c \
		'sh tests/run_tests.sh "$$@"; rc=$$?; sh tests/run_python_tests.sh || rc=1; \
		sh tests/run_python_tests.sh tests/frontdoor || rc=1; exit $$rc' \
		sh $(TEST_BIN)

# Only the Python package's tests.
check-python: all
	@$(TEST_ENV) sh tests/pg_harness.sh sh tests/run_python_tests.sh

# The fault tests (tests/test_faults_*.c) with their whole table of cases: PostgreSQL
# stopped every way in every situation, with one pool and three.  make check runs a cover
# of that table in which every situation meets every way; this runs all of it (a few
# minutes), and CI runs it too.  Running as root lets the SQLite tests mount a tmpfs.
FAULT_BIN := $(filter $(B)/tests/test_faults%,$(TEST_BIN))
faults: all $(FAULT_BIN)
	@TEST_FAULTS_FULL=1 $(TEST_ENV) sh tests/pg_harness.sh sh tests/run_tests.sh $(FAULT_BIN)

# dbmd's main job on the embedded default, start to stop: a private socket and state
# directory, development on SQLite, statements through dbmctl, the status, a clean stop.
demo: all
	@d=$$(mktemp -d /tmp/dbmd-demo.XXXXXX); ctl="$(B)/dbmctl -s $$d/dbmd.sock"; \
	$(B)/dbmd -s $$d/dbmd.sock --set daemon.state_dir=$$d/state 2>$$d/dbmd.log & pid=$$!; \
	for i in 1 2 3 4 5 6 7 8 9 10; do $$ctl ping >/dev/null 2>&1 && break; sleep 0.2; done; \
	set -x; \
	$$ctl sql 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)' && \
	$$ctl sql 'INSERT INTO notes (body) VALUES ($$1), ($$2)' hello world && \
	$$ctl sql 'SELECT id, body FROM notes' && \
	$$ctl status; rc=$$?; set +x; \
	kill -TERM $$pid; wait $$pid || rc=1; \
	echo "--- dbmd's log"; cat $$d/dbmd.log; rm -rf $$d; exit $$rc

# Criterion's runner keeps an allocation of its own to its end: tests/lsan.supp names
# it, and only it (dbmd runs with an environment of the tests' making, without this).
asan:
	LSAN_OPTIONS='suppressions=$(CURDIR)/tests/lsan.supp' $(MAKE) B=build/asan CFLAGS='-O1 -g' \
		SANITIZE='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
		check

valgrind: all $(TEST_BIN)
	$(MAKE) check TEST_ARGS='-j1' \
		TEST_RUN='valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=yes --trace-children-skip=*/sh,*/dash,*/bash,*/python3* --child-silent-after-fork=no --vgdb=no --fair-sched=yes'

# libFuzzer targets (tests/fuzz/README), built with clang into build/fuzz with ASan and
# UBSan.  Each replays its regression inputs, then fuzzes FUZZ_TIME seconds from its seed
# corpus; any crash, leak or hang fails the run.
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_TARGETS := proto_server proto_client config_yaml config_env sqlscan
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

fuzz:
	$(MAKE) B=build/fuzz CC='$(FUZZ_CC)' CFLAGS='-O1 -g' \
		SANITIZE='$(FUZZ_SANITIZE) -fsanitize=fuzzer-no-link' fuzz-build
	FUZZ_TIME='$(FUZZ_TIME)' sh tests/fuzz/run.sh build/fuzz $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(B)/%)

$(FUZZ_TARGETS:%=$(B)/%): $(B)/%: tests/fuzz/%.c $(B)/tests/fuzz/common.o $(B)/libdbmd.a \
		$(B)/libdbmclient.a
	$(qecho) LD $@
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(ALL_LDFLAGS) -o $@ $< \
		$(B)/tests/fuzz/common.o $(B)/libdbmd.a $(B)/libdbmclient.a $(PKG_LIBS) -lpthread

# Writes the seed corpus of the protocol targets from the encoders (tests/fuzz/seeds.c).
fuzz-seeds: $(B)/fuzz-seeds
	$(B)/fuzz-seeds tests/fuzz/corpus

$(B)/fuzz-seeds: tests/fuzz/seeds.c $(PROTO_OBJ)
	$(qecho) LD $@
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PROTO_OBJ)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/dbmd/dbmd.d $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(B)/dbmd $(DESTDIR)$(SBINDIR)/dbmd
	install -m 0755 $(B)/dbmctl $(DESTDIR)$(BINDIR)/dbmctl
	install -m 0755 $(B)/$(LIB_SO) $(DESTDIR)$(LIBDIR)/$(LIB_SO)
	ln -sf $(LIB_SO) $(DESTDIR)$(LIBDIR)/libdbmclient.so
	install -m 0644 $(B)/libdbmclient.a $(DESTDIR)$(LIBDIR)/libdbmclient.a
	install -m 0644 client/dbmclient.h $(DESTDIR)$(INCLUDEDIR)/dbmclient.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		client/libdbmclient.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libdbmclient.pc
	install -m 0644 daemon/dbmd.8 $(DESTDIR)$(MANDIR)/man8/dbmd.8
	install -m 0644 daemon/dbmd.yaml.5 $(DESTDIR)$(MANDIR)/man5/dbmd.yaml.5
	install -m 0644 client/dbmctl.1 $(DESTDIR)$(MANDIR)/man1/dbmctl.1
	install -m 0644 client/libdbmclient.3 $(DESTDIR)$(MANDIR)/man3/libdbmclient.3
	install -m 0644 systemd/dbmd.sysusers $(DESTDIR)$(SYSUSERSDIR)/dbmd.conf
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' systemd/dbmd.service > $(DESTDIR)$(SYSTEMDUNITDIR)/dbmd.service
	install -m 0644 systemd/dbmd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/dbmd.socket
	test -e $(DESTDIR)$(SYSCONFDIR)/dbmd/dbmd.yaml || \
		install -m 0640 etc/dbmd.yaml $(DESTDIR)$(SYSCONFDIR)/dbmd/dbmd.yaml
	install -d $(DESTDIR)$(PYTHONDIR)/dbmclient
	install -m 0644 $(PY_MODULES) $(PY_EXT) $(DESTDIR)$(PYTHONDIR)/dbmclient

# The configuration in $(SYSCONFDIR)/dbmd is the operator's and stays.  The Python
# package's directory goes whole, with the bytecode the interpreter wrote into it.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/dbmd $(DESTDIR)$(BINDIR)/dbmctl \
		$(DESTDIR)$(LIBDIR)/$(LIB_SO) $(DESTDIR)$(LIBDIR)/libdbmclient.so \
		$(DESTDIR)$(LIBDIR)/libdbmclient.a $(DESTDIR)$(INCLUDEDIR)/dbmclient.h \
		$(DESTDIR)$(PKGCONFIGDIR)/libdbmclient.pc $(DESTDIR)$(MANDIR)/man8/dbmd.8 \
		$(DESTDIR)$(MANDIR)/man5/dbmd.yaml.5 $(DESTDIR)$(MANDIR)/man1/dbmctl.1 \
		$(DESTDIR)$(MANDIR)/man3/libdbmclient.3 $(DESTDIR)$(SYSUSERSDIR)/dbmd.conf \
		$(DESTDIR)$(SYSTEMDUNITDIR)/dbmd.service $(DESTDIR)$(SYSTEMDUNITDIR)/dbmd.socket
	rm -rf $(DESTDIR)$(PYTHONDIR)/dbmclient

clean:
	rm -rf build

# Installs the Debian 12 packages the build and the tests need; a no-op when all are there.
deps:
	@missing=; for p in $(DEPS_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || \
			missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	if [ "$$(id -u)" = 0 ]; then sudo=; \
	elif command -v sudo >/dev/null; then sudo=sudo; \
	else echo "deps: run as root to install$$missing" >&2; exit 1; fi; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing

help:
	@echo 'targets: all python check check-python faults demo bench asan valgrind fuzz' \
		'install uninstall clean deps'
	@echo 'variables: WERROR=1 V=1 PREFIX DESTDIR SYSCONFDIR SYSTEMDUNITDIR PYTHON PYTHONDIR' \
		'B FUZZ_TIME'

-include $(shell find $(B) -name '*.d' 2>/dev/null)
