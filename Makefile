# photogate — build, test and run. `make help` lists the targets.

GO        ?= go
BIN       := bin/photogate
TOOLS     := $(CURDIR)/.tools/bin
MINIO     := $(TOOLS)/minio
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_VERSION := v0.8.2
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 60s

export PHOTOGATE_MINIO_BIN ?= $(MINIO)

.PHONY: help build test test-short run run-minio bench lint fuzz tools manifests clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/photogate
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/photogate

test: $(MINIO) ## go vet, then every test with -race (starts its own MinIO)
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 60m ./...

test-short: ## unit tests only, no MinIO or external clients
	$(GO) test -short -count=1 ./...

run: build ## start photogate at once on its embedded backend
	./$(BIN) serve

run-minio: build $(MINIO) ## start a real MinIO and photogate in front of it
	@./scripts/run-minio.sh

bench: build $(MINIO) ## MinIO direct vs through photogate, side by side
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 60m ./test/bench/

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; done

manifests: ## regenerate deploy/kubernetes/photogate.yaml from the Helm chart
	$(GO) test ./test/deploy/ -run TestPlainManifestsAreTheChart -count=1 -update

tools: $(MINIO) ## install the MinIO server used by tests into .tools/bin

$(MINIO):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

clean: ## remove build output (not .tools or data)
	rm -rf bin
