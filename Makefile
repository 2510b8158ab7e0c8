# Quick start (README): `make demo` and `make test`. Both install what they need.
BUILD      ?= build/release
ASAN_BUILD ?= build/asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: deps deps-corpus build build-asan test demo corpus corpus-full bench clean

deps:
	@bash scripts/setup.sh

deps-corpus:
	@bash scripts/setup.sh --corpus

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DDLBRICKS_BUILD_TESTS=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DDLBRICKS_SANITIZE=ON -DDLBRICKS_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The test suite runs under ASan+UBSan (CONVENTIONS.md item 10).
test: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j $(JOBS)

# Default corpus for the demo: a few small real torchvision architectures.
DEMO_MODELS ?= alexnet resnet18 squeezenet1_1 mobilenet_v2 googlenet
corpus: deps-corpus
	@/usr/bin/python3 tools/zoo/export.py --out models $(DEMO_MODELS)

corpus-full: deps-corpus
	@/usr/bin/python3 tools/zoo/export.py --out models --all

demo: build corpus
	@bash scripts/demo.sh $(BUILD)/tools/dlbricks/dlbricks $(DEMO_MODELS)

clean:
	rm -rf build
