# heartbeat: a Go reimplementation of the Linux-HA Heartbeat failover daemon.
SHELL        := /bin/bash
GO           ?= go
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS      := -s -w -X github.com/linuxha/heartbeat/internal/version.Version=$(VERSION)
GOFLAGS_BUILD:= -trimpath -ldflags '$(LDFLAGS)'
BIN          := bin
STATICCHECK  ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)
FUZZTIME     ?= 60s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/heartbeat and bin/hbctl (static)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/heartbeat ./cmd/heartbeat
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/hbctl ./cmd/hbctl

.PHONY: demo
demo: ## a local two-node cluster that fails over, with a live view (root)
	./scripts/demo

.PHONY: test
test: ## tier 1: unit, golden and scenario tests (no root needed)
	$(GO) test -count=1 ./...

.PHONY: test-root
test-root: ## tier 2: root tests in throwaway network namespaces
	$(GO) test -count=1 -tags roottest -run 'Root' ./internal/...

.PHONY: test-cluster
test-cluster: build ## tier 3: cluster tests, real systemd nodes under systemd-nspawn
	$(GO) test -count=1 -tags clustertest -timeout 15m -v ./test/cluster/...

.PHONY: test-demo
test-demo: build ## the demo (make demo) as a test: it fails when a step does not fail over
	cd test/cluster && HEARTBEAT_DEMO=1 $(GO) test -count=1 -tags clustertest -timeout 5m -run '^TestDemo$$' .

.PHONY: check
check: lint lint-deb test test-root test-cluster test-demo ## everything CI runs: lint, lintian on the package, all three test tiers and the demo

.PHONY: lint
lint: tidy-check ## go vet, staticcheck, gofmt and the go.mod tidy check
	$(GO) vet ./...
	$(GO) vet -tags roottest ./...
	$(GO) vet -tags clustertest ./...
	$(GO) vet -tags clustertest,clusterbench ./test/bench/...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags roottest ./...
	$(STATICCHECK) -tags clustertest ./...

.PHONY: tidy-check
tidy-check: ## fail if go.mod/go.sum are not tidy
	@cp go.mod /tmp/hb-go.mod.bak; cp go.sum /tmp/hb-go.sum.bak
	@$(GO) mod tidy
	@if ! diff -q go.mod /tmp/hb-go.mod.bak >/dev/null || ! diff -q go.sum /tmp/hb-go.sum.bak >/dev/null; then \
		cp /tmp/hb-go.mod.bak go.mod; cp /tmp/hb-go.sum.bak go.sum; echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1; fi

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME) ./internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzParseHaCf$$' -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzParseHaresources$$' -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzParseAuthkeys$$' -fuzztime $(FUZZTIME) ./internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzDeframer$$' -fuzztime $(FUZZTIME) ./internal/media
	$(GO) test -run '^$$' -fuzz '^FuzzCoreRecv$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x ./internal/engine

.PHONY: bench
bench: bench-micro ## the micro benchmarks, then (as root) the cluster bench against keepalived and 3.0.6 (bench-cluster)
	@if [ "$$(id -u)" -eq 0 ]; then $(MAKE) --no-print-directory bench-cluster; \
	else echo "bench: the cluster bench (make bench-cluster) needs root: skipped"; fi

.PHONY: bench-micro
bench-micro: ## micro benchmarks of the heartbeat path (no root)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

-include packaging/deb.mk
-include bench.mk

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN)
