# The two commands a newcomer runs (see README):
#   make example   builds libnumpack.so / libnumpack.a and runs the C example end to end
#   make test      runs every suite: lint, Rust unit tests, header check, C/C++/Fortran tests, interop,
#                  the install (CMake and pkg-config consumers), the C tests under ThreadSanitizer
#                  and under valgrind memcheck
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

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/numpack
STRIP ?=

.PHONY: lib example install test lint test-rust test-c test-interop test-mpi test-install tsan \
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

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 755 target/release/$(SOREAL) $(DESTDIR)$(PREFIX)/lib/
	ln -sfn $(SOREAL) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(PREFIX)/lib/libnumpack.so
	install -m 644 target/release/libnumpack.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/numpack.h $(DESTDIR)$(PREFIX)/include/
	if [ -f include/numpack.hpp ]; then install -m 644 include/numpack.hpp $(DESTDIR)$(PREFIX)/include/; fi
	install -m 755 target/release/npk $(DESTDIR)$(PREFIX)/bin/
	for pc in numpack numpack-static; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' pkgconfig/$$pc.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/$$pc.pc; done


test: lint test-rust test-c test-interop test-install tsan memcheck
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
