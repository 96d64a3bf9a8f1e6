# Makefile: build congruent, test it, and run it on the example policy.
#
#   make               build ./congruent
#   make run           install build dependencies, build, plan policies/ here
#   make check         install test dependencies, build, run every test
#   make SANITIZE=1 check   the same with ASan + UBSan
#   make bench         speed and memory figures (BENCH_PEERS=1: CFEngine too)
#   make fuzz          build the libFuzzer targets, run each FUZZ_SECONDS
#   make fuzz-build    build them only (clang, into build/fuzz/)
#   make install       PREFIX=/usr/local DESTDIR=

PROG    := congruent
VERSION := 0.1.0
CC      := gcc
PKGS    := libgit2 yaml-0.1 openssl libcap
B       := build

WARN := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
	-Wpointer-arith -Wcast-qual -Wsign-compare
OPT  := -O2
ifdef SANITIZE
OPT  := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
endif
ifdef WERROR
WARN += -Werror
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS  = -std=c11 -g $(OPT) $(WARN) -D_GNU_SOURCE \
	-DCG_VERSION='"$(VERSION)"' -Iinclude $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = -g $(OPT) $(LDFLAGS)

# Objects depend on a flags file rewritten only when the flags change, so
# switching between `make` and `make SANITIZE=1` never links stale objects.
FLAGS_NOW := $(ALL_CFLAGS) $(ALL_LDFLAGS) $(PKG_LIBS)
ifneq ($(FLAGS_NOW),$(file <$(B)/flags))
$(shell mkdir -p $(B))
$(file >$(B)/flags,$(FLAGS_NOW))
endif

SRC      := $(wildcard agent/*.c) $(wildcard modules/*.c)
OBJ      := $(SRC:%.c=$(B)/%.o)
LIB_OBJ  := $(filter-out $(B)/agent/main.o,$(OBJ))
UNIT_SRC := $(wildcard tests/unit/test-*.c)
UNIT_BIN := $(UNIT_SRC:%.c=$(B)/%)
INTEG    := $(wildcard tests/integration/t[0-9]*.sh)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:%.c=$(B)/%)

all: $(PROG)

$(PROG): $(OBJ) $(B)/flags
	$(CC) $(ALL_LDFLAGS) -o $@ $(OBJ) $(PKG_LIBS)

$(B)/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/tests/unit/%: tests/unit/%.c $(LIB_OBJ) $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -MMD -MP -o $@ $< $(LIB_OBJ) $(PKG_LIBS)

$(B)/tests/helpers/%: tests/helpers/%.c $(LIB_OBJ) $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(LIB_OBJ) $(PKG_LIBS)

tests: $(PROG) $(UNIT_BIN) $(HELPER_BIN)

# The fuzzers: clang with libFuzzer, ASan and UBSan, their own objects
# under $(B)/fuzz/ and their own flags file, so that they never mix with
# the gcc build. Each target links every library object (the real parsers).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FB           := $(B)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	$(WARN) -D_GNU_SOURCE -DCG_VERSION='"$(VERSION)"' -Iinclude \
	-Itests/unit $(PKG_CFLAGS)
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/%)
FUZZ_LIB_OBJ := $(LIB_OBJ:$(B)/%=$(FB)/obj/%)

ifneq ($(filter fuzz fuzz-build $(FB)/%,$(MAKECMDGOALS)),)
FUZZ_FLAGS_NOW := $(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_LIBS)
ifneq ($(FUZZ_FLAGS_NOW),$(file <$(FB)/flags))
$(shell mkdir -p $(FB))
$(file >$(FB)/flags,$(FUZZ_FLAGS_NOW))
endif
endif

# Not intermediate files: make would delete them after each link.
.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_SRC:%.c=$(FB)/obj/%.o)

$(FB)/obj/%.o: %.c $(FB)/flags
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FB)/fuzz-%: $(FB)/obj/tests/fuzz/fuzz-%.o $(FUZZ_LIB_OBJ) $(FB)/flags
	$(FUZZ_CC) -g $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) \
		$(PKG_LIBS)

fuzz-build: deps-fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

# Each target runs on a copy of its corpus in $(FB)/run/ (the tree is
# never written); a crash, a leak or a hang fails, its input left in
# $(FB)/artifacts/.
fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

# Set-up is part of the two README commands: each installs what it needs.
deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

deps-fuzz:
	@scripts/deps.sh fuzz

run: deps
	@$(MAKE) --no-print-directory $(PROG)
	@rc=0; ./$(PROG) plan --policy policies/ || rc=$$?; \
	case $$rc in \
	0) echo "make run: plan exit 0: this host is congruent with policies/";; \
	2) echo "make run: plan exit 2: the changes above would make this host congruent (nothing was changed)";; \
	*) echo "make run: plan failed (exit $$rc)"; exit $$rc;; \
	esac

# PROVE_FLAGS=-v for verbose output; T='tests/integration/t2*' for a subset.
PROVE_FLAGS ?= -j2
T ?= $(UNIT_BIN) $(INTEG)
check: deps-test
	@$(MAKE) --no-print-directory tests
	prove $(PROVE_FLAGS) --exec '' $(T)

bench: deps
	@$(MAKE) --no-print-directory $(PROG) $(HELPER_BIN)
	@tests/bench/run.sh

# make install [PREFIX=/usr/local] [DESTDIR=]: the program, its manual,
# the systemd units, an example agent.yaml and a cron example. An existing
# /etc/congruent/agent.yaml is never touched.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/$(PROG)
SYSCONFDIR ?= /etc
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g'
UNITS := congruent.service congruent.timer congruent-firewall.service

install: $(PROG)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples/cron.d \
		$(DESTDIR)$(DOCDIR)/examples/reports \
		$(DESTDIR)$(SYSCONFDIR)/congruent
	install -m 0755 $(PROG) $(DESTDIR)$(SBINDIR)/$(PROG)
	install -m 0644 doc/congruent.8 $(DESTDIR)$(MANDIR)/man8/congruent.8
	$(SUBST) contrib/systemd/congruent.service.in \
		>$(DESTDIR)$(UNITDIR)/congruent.service
	$(SUBST) contrib/systemd/congruent-firewall.service.in \
		>$(DESTDIR)$(UNITDIR)/congruent-firewall.service
	install -m 0644 contrib/systemd/congruent.timer $(DESTDIR)$(UNITDIR)/
	chmod 0644 $(DESTDIR)$(UNITDIR)/congruent.service \
		$(DESTDIR)$(UNITDIR)/congruent-firewall.service
	$(SUBST) contrib/cron/congruent.in \
		>$(DESTDIR)$(DOCDIR)/examples/cron.d/congruent
	install -m 0644 contrib/agent.yaml.example README.md $(DESTDIR)$(DOCDIR)/
	install -m 0755 contrib/reports/pre-receive \
		$(DESTDIR)$(DOCDIR)/examples/reports/pre-receive
	install -m 0644 contrib/agent.yaml.example \
		$(DESTDIR)$(SYSCONFDIR)/congruent/agent.yaml.example
	@# This host's key for secrets, if it has none: installing on the host
	@# itself as root only (a DESTDIR is an image or a package: no key).
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		$(SBINDIR)/$(PROG) key init >/dev/null; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/$(PROG) $(DESTDIR)$(MANDIR)/man8/congruent.8 \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(DESTDIR)$(SYSCONFDIR)/congruent/agent.yaml.example
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf $(B) $(PROG)

.PHONY: all tests deps deps-test deps-fuzz run check bench fuzz fuzz-build \
	install uninstall clean

-include $(OBJ:.o=.d) $(UNIT_BIN:=.d) $(HELPER_BIN:=.d)
-include $(wildcard $(FB)/obj/*/*.d $(FB)/obj/*/*/*.d)
