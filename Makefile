# The two commands a newcomer runs (see README):
#   make example   builds libnumpack.so / libnumpack.a and runs the C example end to end
#   make test      runs every suite: lint, Rust unit tests, header check, C/C++/Fortran tests, interop,
#                  the MPI example on 4 ranks, the install (CMake and pkg-config consumers), the C
#                  tests under ThreadSanitizer and under valgrind memcheck
# and, after `make lib` (install never builds, so `sudo make install` does not run cargo as root):
#   make install [PREFIX=/usr/local] [DESTDIR=] [LIBDIR=] [INCLUDEDIR=] [BINDIR=] [DATADIR=] [STRIP=1]
#   make install-strip, make uninstall (the same variables)
CARGO ?= cargo
PYTHON ?= python3
CC ?= cc
# Where `make lib` leaves its artifacts; the suites' Makefiles and scripts get it as LIBDIR.
BUILT := $(CURDIR)/target/release
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
# The ABI version is the major version, 0 included (README, "Versions and the ABI").
SONAME := libnumpack.so.$(MAJOR)
SOREAL := libnumpack.so.$(VERSION)
# What libnumpack.a needs from the system, as `cargo rustc --release --lib --crate-type staticlib
# -- --print native-static-libs` prints it (-lgcc_s is the unwinder for a dynamic link).
NATIVE_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
# The same for programs linking libnumpack.a (numpack.pc's Libs.private, numpack::numpack_static),
# without the unwinder: the compiler driver adds libgcc's own, -lgcc_s for a dynamic link and
# -lgcc_eh for `cc -static`, where an explicit -lgcc_s fails (there is no libgcc_s.a).
STATIC_LIBS := $(filter-out -lgcc_s,$(NATIVE_LIBS))

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/numpack
STRIP ?=

.PHONY: lib example install install-strip uninstall test lint test-rust test-c test-interop test-mpi test-install tsan \
	memcheck campaign fuzz clean

# cargo builds libnumpack.a and a cdylib; the installed shared library is relinked from the .a
# with the symbol version script, because rustc hands the linker its own version script first
# and GNU ld ignores any later one (build.rs). The result is the real file libnumpack.so.X.Y.Z
# with SONAME libnumpack.so.X, and the links libnumpack.so.X and libnumpack.so beside it.
lib:
	$(CARGO) build --release
	$(CC) -shared -o $(BUILT)/$(SOREAL).tmp -Wl,--whole-archive $(BUILT)/libnumpack.a \
	  -Wl,--no-whole-archive -Wl,--version-script=$(CURDIR)/src/ffi/numpack.map \
	  -Wl,-soname,$(SONAME) -Wl,--gc-sections -Wl,-z,relro,-z,now $(NATIVE_LIBS)
	mv -f $(BUILT)/$(SOREAL).tmp $(BUILT)/$(SOREAL)
	ln -sfn $(SOREAL) $(BUILT)/$(SONAME)
	ln -sfn $(SONAME) $(BUILT)/libnumpack.so

example: lib
	$(MAKE) -C examples run LIBDIR=$(BUILT)

# Paths as numpack.pc writes them: relative to ${prefix} where they are under it.
rel_pc = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
D := $(DESTDIR)
JULIA_DIR := $(DATADIR)/julia/NumPack
FORTRAN_DIR := $(DATADIR)/numpack/fortran

install:
	@for f in $(SOREAL) libnumpack.a npk; do \
	  [ -e "$(BUILT)/$$f" ] || { echo "make install: $(BUILT)/$$f is missing: run make lib first" \
	    "(install never builds)" >&2; exit 1; }; done
	install -d $(D)$(BINDIR) $(D)$(LIBDIR) $(D)$(INCLUDEDIR) $(D)$(PKGCONFIGDIR) $(D)$(CMAKEDIR) \
	  $(D)$(FORTRAN_DIR) $(D)$(JULIA_DIR)
	install -m 755 $(BUILT)/$(SOREAL) $(D)$(LIBDIR)/
	ln -sfn $(SOREAL) $(D)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(D)$(LIBDIR)/libnumpack.so
	install -m 644 $(BUILT)/libnumpack.a $(D)$(LIBDIR)/
	install -m 755 $(BUILT)/npk $(D)$(BINDIR)/
	install -m 644 include/numpack.h include/numpack.hpp $(D)$(INCLUDEDIR)/
	install -m 644 fortran/numpack.f90 $(D)$(FORTRAN_DIR)/
	cd julia && find . -type d -exec install -d "$(D)$(JULIA_DIR)/{}" \; \
	  && find . -type f -exec install -m 644 "{}" "$(D)$(JULIA_DIR)/{}" \;
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call rel_pc,$(LIBDIR))|' \
	  -e 's|@INCLUDEDIR@|$(call rel_pc,$(INCLUDEDIR))|' -e 's|@VERSION@|$(VERSION)|' \
	  -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|' pkgconfig/numpack.pc.in > $(D)$(PKGCONFIGDIR)/numpack.pc
	sh cmake/configure.sh $(D)$(CMAKEDIR) '$(CMAKEDIR)' '$(LIBDIR)' '$(INCLUDEDIR)' '$(DATADIR)' \
	  '$(VERSION)' '$(SONAME)' '$(STATIC_LIBS)'
	if [ -n "$(STRIP)" ]; then \
	  strip --strip-unneeded $(D)$(LIBDIR)/$(SOREAL) $(D)$(BINDIR)/npk && \
	  strip --strip-debug $(D)$(LIBDIR)/libnumpack.a; fi

install-strip:
	$(MAKE) install STRIP=1

# Removes what install wrote, and the directories only numpack uses.
uninstall:
	rm -f $(D)$(LIBDIR)/$(SOREAL) $(D)$(LIBDIR)/$(SONAME) $(D)$(LIBDIR)/libnumpack.so \
	  $(D)$(LIBDIR)/libnumpack.a $(D)$(BINDIR)/npk $(D)$(INCLUDEDIR)/numpack.h \
	  $(D)$(INCLUDEDIR)/numpack.hpp $(D)$(PKGCONFIGDIR)/numpack.pc \
	  $(D)$(CMAKEDIR)/numpackConfig.cmake $(D)$(CMAKEDIR)/numpackConfigVersion.cmake
	rm -rf $(D)$(FORTRAN_DIR) $(D)$(JULIA_DIR)
	rmdir $(D)$(CMAKEDIR) $(D)$(DATADIR)/numpack 2>/dev/null || true

test: lint test-rust test-c test-interop test-mpi test-install tsan memcheck
	@echo "make test: all suites passed"

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(CARGO) test

test-c: lib
	$(MAKE) -C c_tests run LIBDIR=$(BUILT)
	$(MAKE) -C c_tests/batch run LIBDIR=$(BUILT)
	$(MAKE) -C c_tests/cpp run LIBDIR=$(BUILT)
	$(MAKE) -C c_tests/fortran run LIBDIR=$(BUILT)

test-interop: lib
	bash scripts/setup-python.sh
	nice bash scripts/setup-numpack07.sh
	$(MAKE) -C examples check LIBDIR=$(BUILT)
	LIBDIR=$(BUILT) $(PYTHON) -m pytest -q tests/interop tests/julia_proxy

# examples/mpi_checkpoint.c on 4 MPI ranks (Debian's openmpi-bin, libopenmpi-dev), then numpack
# checks the store they wrote.
test-mpi: lib
	bash scripts/setup-python.sh
	$(MAKE) -C examples check-mpi LIBDIR=$(BUILT)

test-install: lib
	bash tests/install/run.sh

# The C tests under ThreadSanitizer (library built into target/tsan) and under valgrind memcheck.
tsan:
	bash scripts/tsan.sh

memcheck: lib
	bash scripts/memcheck.sh

# Long runs, by hand (README, "Reliability, measured"): the crash campaign and the fuzzers.
TRIALS ?= 500
campaign: lib
	$(MAKE) -C c_tests campaign LIBDIR=$(BUILT) TRIALS=$(TRIALS) $(if $(SEED),SEED=$(SEED))

FUZZ_SECONDS ?= 600
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

clean:
	$(CARGO) clean
	$(MAKE) -C c_tests clean LIBDIR=$(BUILT)
	$(MAKE) -C c_tests/batch clean LIBDIR=$(BUILT)
	$(MAKE) -C c_tests/cpp clean LIBDIR=$(BUILT)
	$(MAKE) -C c_tests/fortran clean LIBDIR=$(BUILT)
	$(MAKE) -C examples clean LIBDIR=$(BUILT)
