# stride: `make demo` and `make test` work on a fresh clone (Node 20+); they install what is missing.
.PHONY: demo test typecheck build fixtures clean

NODE_TEST = node --expose-gc --import tsx --test --test-reporter=spec

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

STRIDE = node --import tsx src/cli/bin.ts

# Trains LeNet-5 on Fashion-MNIST (the bundled subset, or the full set when installed, of which
# it takes the first 12,000 images to stay within a few minutes on the reference backend) and
# leaves the checkpoint, the model and the report in out/demo.
demo: node_modules/.package-lock.json
	$(STRIDE) train --model lenet5 --dataset fashion-mnist --epochs $(or $(EPOCHS),3) --limit $(or $(LIMIT),12000) --out out/demo

test: node_modules/.package-lock.json
	npx tsc -p tsconfig.json --noEmit
	$(NODE_TEST) test/*.test.ts

typecheck: node_modules/.package-lock.json
	npx tsc -p tsconfig.json --noEmit

build: node_modules/.package-lock.json
	npx tsc -p tsconfig.build.json

# Regenerates the committed PyTorch reference fixtures (needs Debian's python3-torch).
fixtures:
	@if /usr/bin/python3 -c 'import torch' 2>/dev/null; then \
	  /usr/bin/python3 tools/fixtures/gen_all.py; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y -q python3-torch python3-torchvision && /usr/bin/python3 tools/fixtures/gen_all.py; \
	else \
	  echo "NOTICE: python3-torch is not installed and apt is unavailable; the committed fixtures are kept as they are."; \
	fi

clean:
	rm -rf dist out
