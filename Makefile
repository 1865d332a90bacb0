# Millwright — the single entry point. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO    ?= go
BIN   := bin
CMDS  := agent hub firmware-sim
PKGS  := ./...
GOTEST_FLAGS ?= -race -timeout 20m
FUZZTIME ?= 10s
FUZZTIME_CI ?= 1000x

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets, one line each
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the agent, hub and firmware-sim binaries into bin/
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/ ./agent ./hub ./firmware-sim

.PHONY: demo
demo: build ## Run hub (embedded broker + store + UI), simulator and two agents; Ctrl-C stops
	@scripts/demo.sh

.PHONY: deps
deps: ## Install what the tests need (Mosquitto, …), idempotently
	@scripts/install-test-deps.sh

.PHONY: test
test: deps vet vulncheck ## Install test dependencies, vet, govulncheck, race-enabled tests, then a short fuzz pass (1,000 inputs per target)
	$(GO) test $(GOTEST_FLAGS) $(PKGS)
	@scripts/fuzz.sh $(FUZZTIME_CI)

.PHONY: vulncheck
vulncheck: ## govulncheck (pinned, from the module proxy) against the Go vulnerability database
	@scripts/vulncheck.sh

.PHONY: vet
vet: ## go vet and a gofmt check
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: vet ## Static checks (vet + gofmt)

.PHONY: bench
bench: ## Benchmarks with allocation counts (speed and memory numbers of the README)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s $(PKGS)

.PHONY: bench-accuracy
bench-accuracy: ## Detector accuracy: SKAB (../shared/data/skab) beside the published leaderboard, and the simulated plant
	$(GO) test -run 'TestLeaderboard|TestTunedPCA' -v -count=1 -timeout 30m ./models/skab/
	$(GO) test -v -count=1 -timeout 30m ./models/plantbench/

.PHONY: fuzz
fuzz: ## Run every fuzz test for FUZZTIME each (default 10s)
	@scripts/fuzz.sh $(FUZZTIME)

.PHONY: cross
cross: ## Cross-build linux/arm64 and linux/arm/v7 binaries with CGO_ENABLED=0 into bin/
	@for target in arm64: arm:7; do \
	  arch=$${target%%:*}; arm=$${target##*:}; out=$(BIN)/linux-$$arch$${arm:+v$$arm}; mkdir -p $$out; \
	  echo "building $$out"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags='-s -w' -o $$out/ ./agent ./hub ./firmware-sim || exit 1; \
	done

.PHONY: tidy
tidy: ## go mod tidy
	$(GO) mod tidy

.PHONY: clean
clean: ## Remove binaries and demo state
	rm -rf $(BIN) .demo
