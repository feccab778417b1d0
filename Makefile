# The two commands of the README: `make run` and `make test`.  Both install
# missing Debian packages first (tools/deps.sh), then configure and build
# with CMake into build/.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build run run-c test sanitize bench install uninstall clean

all: build

deps:
	@tools/deps.sh base

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The default experiment: Fashion-MNIST (dataset-fashion-mnist, installed by
# tools/deps.sh), its run directory under runs/.
run: build
	$(BUILD)/nnrun experiments/fashion_mnist.yaml

# The C embedding example (digits 0-3, no Lua).
run-c: build
	$(BUILD)/examples/digits03

test: build
	@tools/deps.sh browser
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer over the C and end-to-end tests
# (but the "heavy" ones: whole data sets, minutes at -O0 with ASan).
sanitize: deps
	@cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DNNRUN_SANITIZE=ON >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	cd build-sanitize && ctest --output-on-failure -j $(JOBS) -L 'c|e2e' -LE heavy

# The same tests on a build without OpenMP (single-threaded): the runtime
# must not depend on it.
nomp: deps
	@cmake -S . -B build-nomp -DCMAKE_BUILD_TYPE=Release -DNNRUN_OPENMP=OFF >/dev/null
	@cmake --build build-nomp -j $(JOBS)
	cd build-nomp && ctest --output-on-failure -j $(JOBS) -L 'c|lua|e2e'

# libFuzzer (clang) on the checkpoint, CSV, IDX and YAML readers:
# FUZZ_SECONDS per target, crashes in build-fuzz/<target>/.
FUZZ_SECONDS ?= 60
fuzz: deps
	@tools/deps.sh fuzz
	tools/fuzz.sh $(FUZZ_SECONDS)

bench: deps
	@tools/deps.sh bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	cmake --build $(BUILD) --target bench_run

# make install [PREFIX=/usr/local]: the prefix is also compiled into nnrun
# (where it finds its Lua scripts), hence the reconfigure. Into /usr or
# /usr/local as root the install step runs ldconfig (cmake/ldconfig.cmake).
# make uninstall removes every file listed in $(BUILD)/install_manifest.txt,
# i.e. what the last make install of this build wrote.
PREFIX ?= /usr/local
install: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	cmake --install $(BUILD)

uninstall:
	@test -f $(BUILD)/install_manifest.txt || { echo "make uninstall: $(BUILD)/install_manifest.txt does not exist (nothing installed from this build: run make install first)" >&2; exit 2; }
	cmake -DMANIFEST=$(BUILD)/install_manifest.txt -P cmake/uninstall.cmake

clean:
	rm -rf $(BUILD) build-sanitize build-nomp build-fuzz
