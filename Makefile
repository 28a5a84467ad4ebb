# stride: `make demo` and `make test` work on a fresh clone (Node 20+); they install what is missing.
.PHONY: demo test native typecheck build fixtures clean

# Test files run as many at a time as there are cores (node's default leaves one idle): many wait
# on child processes or Chromium, and the suite is three passes long.
NODE_TEST = node --expose-gc --import tsx --test --test-concurrency=$(shell nproc 2>/dev/null || echo 2) --test-reporter=spec

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

STRIDE = node --import tsx src/cli/bin.ts

# Trains LeNet-5 on Fashion-MNIST (the bundled subset, or the full set when installed) for 3
# epochs and leaves the checkpoint, the model and the report in out/demo. On the native backend
# when it builds here (all 60,000 training images: ~13 s), else on the wasm one (Node 20 always
# has WebAssembly SIMD: ~15 s).
demo: node_modules/.package-lock.json native
	$(STRIDE) train --model lenet5 --dataset fashion-mnist --epochs $(or $(EPOCHS),3) \
	  --limit $(or $(LIMIT),60000) --out out/demo

# The suite runs on the reference backend, then on the native and the wasm backends, which
# test/setup_backend.ts makes the default (all but test/native.test.ts and test/wasm.test.ts,
# which compare a backend with the reference directly, and the browser tests, which run in
# Chromium), and test/wasm.test.ts once more on the wasm backend's plain-SIMD build. A backend
# that cannot run here is skipped with a NOTICE. bench/'s pinned peers are installed too: the
# interop tests run exported models in their onnxruntime-node and imported ones in their TF.js.
BACKEND_SUITE = $(filter-out test/native.test.ts test/wasm.test.ts test/browser_%,$(wildcard test/*.test.ts))
test: node_modules/.package-lock.json native bench/node_modules/.package-lock.json chromium libonnx-testdata
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p tsconfig.browser.json --noEmit
	$(NODE_TEST) test/*.test.ts
	@if [ -f $(NATIVE_ADDON) ]; then \
	  echo "== the test suite on the native backend =="; \
	  STRIDE_BACKEND=native $(NODE_TEST) --import ./test/setup_backend.ts $(BACKEND_SUITE); \
	else \
	  echo "NOTICE: native backend unavailable: $(NATIVE_ADDON) is not built; skipping the native run"; \
	fi
	@echo "== the test suite on the wasm backend =="
	STRIDE_BACKEND=wasm $(NODE_TEST) --import ./test/setup_backend.ts $(BACKEND_SUITE)
	@echo "== the wasm backend's plain-SIMD build (what engines without relaxed SIMD run) =="
	STRIDE_WASM_BUILD=simd $(NODE_TEST) test/wasm.test.ts

# The native backend (optional): an N-API addon over oneDNN, built with node-gyp when a C++
# compiler and oneDNN are present (libdnnl-dev is installed with apt when run as root: only here,
# STRIDE_APT=1, never by npm); else a NOTICE, and stride runs on another backend. See
# native/README.md. npm ci builds it too (package.json's install script runs build.sh, without
# apt): when that addon is newer than its sources, it is not built again.
NATIVE_ADDON = native/build/Release/stride_native.node
native: $(NATIVE_ADDON)
$(NATIVE_ADDON): native/binding.gyp native/build.sh $(wildcard native/src/*) | node_modules/.package-lock.json
	@if [ -f $@ ] && [ -z "$$(find $^ -newer $@)" ]; then echo "$@ is up to date (npm ci built it)"; \
	else STRIDE_APT=1 sh native/build.sh; fi

typecheck: node_modules/.package-lock.json
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p tsconfig.browser.json --noEmit

# Debian's Chromium for the browser tests (the wasm backend in a page, the studio), installed
# with apt as root; without it those tests are skipped with a NOTICE.
.PHONY: chromium
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium with apt-get (browser tests)"; \
	    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else \
	    echo "NOTICE: Chromium is not installed and apt is unavailable; the browser tests will be skipped"; \
	  fi; \
	fi

# ONNX's operator test cases for test/onnx_conformance.test.ts, installed with apt as root;
# without them those tests are skipped with a NOTICE.
.PHONY: libonnx-testdata
libonnx-testdata:
	@if [ ! -d /usr/share/libonnx-testdata/data ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing libonnx-testdata with apt-get (ONNX conformance tests)"; \
	    apt-get install -y -q libonnx-testdata >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q libonnx-testdata >/dev/null; }; \
	  else \
	    echo "NOTICE: libonnx-testdata is not installed and apt is unavailable; the ONNX conformance tests will be skipped"; \
	  fi; \
	fi

# dist/ for the package: the wasm kernels (committed prebuilt in src/backend/wasm/bin) rebuilt
# from wasm/assembly with AssemblyScript, then tsc.
build: node_modules/.package-lock.json
	npm run build

# Regenerates the committed PyTorch reference fixtures (needs Debian's python3-torch).
fixtures:
	@if /usr/bin/python3 -c 'import torch, sklearn' 2>/dev/null; then \
	  /usr/bin/python3 tools/fixtures/gen_all.py; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y -q python3-torch python3-torchvision python3-sklearn && /usr/bin/python3 tools/fixtures/gen_all.py; \
	else \
	  echo "NOTICE: python3-torch is not installed and apt is unavailable; the committed fixtures are kept as they are."; \
	fi

clean:
	rm -rf dist out

# Benchmarks stride against PyTorch, onnxruntime-node, TF.js and ConvNetJS (bench/run.ts), after
# installing what is missing: bench/'s npm packages and, as root with apt, Debian's PyTorch with
# OpenBLAS (without it Debian's torch runs on the reference netlib BLAS: W1 at 44% speed; the
# harness notes which BLAS PyTorch loaded). QUICK=1 runs the short version (< 15 minutes on two
# cores). Results go to bench/results/.
.PHONY: bench
bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	cd bench && npm ci --ignore-scripts --no-audit --no-fund

BENCH_APT = python3-torch python3-torchvision libopenblas0-pthread
bench: node_modules/.package-lock.json bench/node_modules/.package-lock.json
	@if ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q $(BENCH_APT) || { apt-get update -q && apt-get install -y -q $(BENCH_APT); }; \
	  else \
	    echo "NOTICE: $(BENCH_APT) are not all installed and apt is unavailable; without torch PyTorch and onnxruntime are reported as unavailable, without OpenBLAS PyTorch runs slower."; \
	  fi; \
	fi
	node --import tsx bench/run.ts $(if $(QUICK),--quick)

# Writes the PyTorch model files: torchvision's resnet18, vgg11, alexnet and mobilenet_v2 with
# reference logits into ~/.cache/stride/torchvision or $STRIDE_TORCHVISION_DIR (about 840 MB, not
# committed; test/torchvision_parity.test.ts skips those checks without them), the committed key
# list test/fixtures/models/torchvision_keys.json, and the committed Fashion-MNIST CNN, retrained
# (needs Debian's dataset-fashion-mnist). Needs python3-torch and python3-torchvision.
.PHONY: models-fixtures
models-fixtures:
	@if /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then \
	  /usr/bin/python3 tools/models/export_torchvision.py && \
	  /usr/bin/python3 tools/models/train_fashion_cnn.py; \
	else \
	  echo "NOTICE: python3-torch/python3-torchvision are not installed (apt-get install python3-torch python3-torchvision); no model files written."; \
	fi
