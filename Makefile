# mattercam — the front door. `make run` and `make test` are all a fresh
# machine needs; both install what they use.

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO       ?= go
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Static, stripped, reproducible (DESIGN.md §5).
STATIC   := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)'
WHEP     ?= 127.0.0.1:8080
FUZZTIME ?= 5s

.PHONY: all build run test unit e2e fuzz-short cross-check bench arm64 armv7 deps clean FORCE

all: build

build: bin/mattercam

bin/mattercam: FORCE
	$(STATIC) -o $@ ./cmd/mattercam

run: build
	./bin/mattercam -whep-listen $(WHEP) -state-dir bin/state

arm64: bin/mattercam-arm64
armv7: bin/mattercam-armv7

bin/mattercam-arm64: FORCE
	GOOS=linux GOARCH=arm64 $(STATIC) -o $@ ./cmd/mattercam
	@file $@ | grep -q 'statically linked' || { file $@; echo "$@ is not static"; exit 1; }
	@file $@; ls -l $@ | awk '{printf "%s: %d bytes (%.1f MiB)\n", $$9, $$5, $$5/1048576}'

bin/mattercam-armv7: FORCE
	GOOS=linux GOARCH=arm GOARM=7 $(STATIC) -o $@ ./cmd/mattercam
	@file $@ | grep -q 'statically linked' || { file $@; echo "$@ is not static"; exit 1; }
	@file $@; ls -l $@ | awk '{printf "%s: %d bytes (%.1f MiB)\n", $$9, $$5, $$5/1048576}'

# Everything: vet, unit and protocol tests under the race detector (these
# include the pion viewer and headless Chromium end-to-end tests), a short
# fuzz run of every decoder, and the ARM binaries under qemu-user.
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) fuzz-short
	$(MAKE) cross-check

# Each Fuzz target for FUZZTIME beyond its seed corpus (which `go test`
# already runs). On a 2-core machine the fuzzer's worker processes
# occasionally die without a finding; such a failure is retried once, while
# a real finding is saved to testdata/fuzz and fails the retry too.
fuzz-short:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | cut -c6-); do \
	    echo "fuzz $$pkg $$f"; \
	    out=$$($(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg 2>&1) || { \
	      echo "$$out" | tail -20; \
	      echo "retrying $$f: a crasher is saved under testdata/fuzz and fails the retry; a worker hiccup does not"; \
	      $(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; }; \
	  done; \
	done

cross-check: arm64 armv7
	qemu-aarch64 bin/mattercam-arm64 -version | grep -q '^mattercam '
	qemu-arm bin/mattercam-armv7 -version | grep -q '^mattercam '
	@echo "ARM binaries run under qemu-user: $$(qemu-aarch64 bin/mattercam-arm64 -version)"

# Benchmarks; ratios against the peer measured in the same run.
bench:
	@mkdir -p bin
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./... | tee bin/bench.txt
	@scripts/benchratio bin/bench.txt

deps:
	@scripts/deps

clean:
	rm -rf bin
