# photogate — build, test and run. `make help` lists the targets.

GO        ?= go
# Go 1.26.10 fixes standard-library vulnerabilities (net/http, crypto/tls,
# crypto/x509, net/textproto) that govulncheck finds reachable with the
# machine's 1.26.8. The go command fetches it from the module proxy once;
# machines here default to GOTOOLCHAIN=local, which would ignore go.mod's
# toolchain line, so it is set for every target.
export GOTOOLCHAIN := go1.26.10
BIN       := bin/photogate
TOOLS     := $(CURDIR)/.tools/bin
MINIO     := $(TOOLS)/minio
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_VERSION := v0.8.2
ACTIONLINT_VERSION  := v1.7.12
GOVULNCHECK_VERSION := v1.9.0
HELM_VERSION        := v3.22.0
# The Go vulnerability database is the golang.org/x/vulndb module at this
# version (its data/osv), indexed locally by its cmd/indexdb: govulncheck
# then reads it from disk and never calls vuln.go.dev. Bump it (to the
# version `go list -m golang.org/x/vulndb@latest` names) to see newer advisories.
VULNDB_VERSION      ?= v0.0.0-20261105234957-e22db6528018
ACTIONLINT  := $(TOOLS)/actionlint-$(ACTIONLINT_VERSION)
GOVULNCHECK := $(TOOLS)/govulncheck-$(GOVULNCHECK_VERSION)
HELM        := $(TOOLS)/helm-$(HELM_VERSION)
INDEXDB     := $(TOOLS)/indexdb-$(VULNDB_VERSION)
VULNDB      := $(CURDIR)/.tools/vulndb-$(VULNDB_VERSION)
COVER_DIR   := bin/cover
COVER_MIN   ?= 80
DIST_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 60s

export PHOTOGATE_MINIO_BIN ?= $(MINIO)

# nodynamic: gen2brain/heic decodes the HEIC files libvips' libheif refuses
# with its own libheif compiled to WebAssembly, never with the system's
# libheif.so (see rendition/heic.go). Every go command here builds with it.
export GOFLAGS += -tags=nodynamic

# Renditions (thumbnails, previews) need libvips through cgo. Without it
# (no C compiler or no libvips-dev) the build is pure Go and serve runs with
# renditions off, saying so in its log; `make test` needs libvips.
HAVE_VIPS := $(shell pkg-config --exists vips 2>/dev/null && command -v cc >/dev/null 2>&1 && echo yes)
ifeq ($(HAVE_VIPS),yes)
BUILD_CGO := 1
else
BUILD_CGO := 0
endif

.PHONY: help build install test test-short run run-minio bench lint vulncheck cover dist fuzz tools helm helm-path manifests clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/photogate (with libvips renditions when libvips-dev is installed)
	@[ $(BUILD_CGO) = 1 ] || echo "libvips-dev not found (apt-get install libvips-dev pkg-config): building without renditions"
	CGO_ENABLED=$(BUILD_CGO) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/photogate

test: $(MINIO) ## go vet, then every test with -race (starts its own MinIO)
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 60m ./...

test-short: ## unit tests only, no MinIO or external clients
	$(GO) test -short -count=1 ./...

run: build ## start photogate at once on its embedded backend (ARGS="..." adds serve flags)
	./$(BIN) serve $(ARGS)

install: ## go install photogate into $(go env GOBIN) or $(go env GOPATH)/bin, so `photogate` is on PATH
	CGO_ENABLED=$(BUILD_CGO) $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/photogate
	@echo "installed $$(d=$$($(GO) env GOBIN); echo $${d:-$$($(GO) env GOPATH)/bin})/photogate"

run-minio: build $(MINIO) ## start a real MinIO and photogate in front of it
	@./scripts/run-minio.sh

bench: build $(MINIO) ## MinIO direct vs through photogate, versitygw and rclone serve s3, side by side
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 60m ./test/bench/

lint: $(ACTIONLINT) ## gofmt, go vet, staticcheck, go mod tidy -diff, actionlint, govulncheck
	@files=$$(git ls-files --cached --others --exclude-standard '*.go'); \
	  test -z "$$(gofmt -l $$files)" || { echo "not gofmt'ed:"; gofmt -l $$files; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@$(GO) mod tidy -diff || (echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1)
	$(ACTIONLINT) -no-color
	@$(MAKE) --no-print-directory vulncheck

vulncheck: $(GOVULNCHECK) $(VULNDB) ## govulncheck ./... against the offline vulnerability database
	$(GOVULNCHECK) -db file://$(VULNDB) ./...

# Every module in one place: `go mod download` outside this module (cd /)
# so that it neither reads nor touches go.mod.
$(VULNDB): $(INDEXDB)
	@rm -rf $@ $@.tmp
	dir=$$(cd / && GOWORK=off GOFLAGS=-mod=mod $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
	  test -d "$$dir/data/osv" && $(INDEXDB) -vulns "$$dir/data/osv" -out $@.tmp
	mv $@.tmp $@

# make cover: unit tests and end-to-end tests in one figure. The tests run
# once (without -race, which coverage does not need) and write coverage
# counters into $(COVER_DIR)/unit; every photogate the tests start is a
# `go build -cover` binary, reached through PHOTOGATE_BIN, whose wrapper
# sets GOCOVERDIR whatever environment the test gives it and execs the
# binary (same PID: signals, crash kills and os.Executable still work).
cover: $(MINIO) ## unit + end-to-end coverage: total, per package, HTML; fails below COVER_MIN
	rm -rf $(COVER_DIR) && mkdir -p $(COVER_DIR)/unit $(COVER_DIR)/e2e $(COVER_DIR)/report
	$(GO) build -cover -covermode=atomic -o $(COVER_DIR)/photogate.real ./cmd/photogate
	printf '#!/bin/sh\nGOCOVERDIR=%s exec %s "$$@"\n' "$(CURDIR)/$(COVER_DIR)/e2e" "$(CURDIR)/$(COVER_DIR)/photogate.real" > $(COVER_DIR)/photogate
	chmod +x $(COVER_DIR)/photogate
	@pkgs=$$($(GO) list ./... | grep -v '/test/' | paste -sd, -); status=0; \
	  echo "go test -covermode=atomic -coverpkg=<every package outside test/> ./..."; \
	  PHOTOGATE_BIN=$(CURDIR)/$(COVER_DIR)/photogate $(GO) test -count=1 -timeout 60m -covermode=atomic -coverpkg=$$pkgs ./... \
	    -args -test.gocoverdir=$(CURDIR)/$(COVER_DIR)/unit || status=$$?; \
	  echo "== coverage by package (unit and end-to-end merged)"; \
	  $(GO) tool covdata percent -i=$(COVER_DIR)/unit,$(COVER_DIR)/e2e | awk '{printf "%-60s %s\n", $$1, $$3}' | sort | tee $(COVER_DIR)/packages.txt && \
	  $(GO) tool covdata textfmt -i=$(COVER_DIR)/unit,$(COVER_DIR)/e2e -o $(COVER_DIR)/cover.out && \
	  $(GO) tool cover -html=$(COVER_DIR)/cover.out -o $(COVER_DIR)/report/index.html || exit 1; \
	  total=$$($(GO) tool cover -func=$(COVER_DIR)/cover.out | awk '/^total:/ {sub("%","",$$NF); print $$NF}'); \
	  echo "total coverage: $$total% (minimum $(COVER_MIN)%, target 90%; report: $(COVER_DIR)/report/index.html)"; \
	  [ $$status = 0 ] || { echo "tests failed (exit $$status): the figure above is incomplete"; exit $$status; }; \
	  awk -v t=$$total -v m=$(COVER_MIN) 'BEGIN { exit !(t >= m) }' || { echo "coverage $$total% is below $(COVER_MIN)%"; exit 1; }

# Release binaries are cross-compiled without cgo, so they carry no
# renditions: the container image (deploy/Dockerfile) is the build with
# libvips.
dist: ## release binaries (pure Go, renditions off) and SHA256SUMS in bin/dist
	rm -rf bin/dist && mkdir -p bin/dist
	@set -e; for p in $(DIST_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "go build $$os/$$arch"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
	    -o bin/dist/photogate-$(VERSION)-$$os-$$arch$$ext ./cmd/photogate; \
	done
	cd bin/dist && sha256sum photogate-* > SHA256SUMS

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; done

manifests: ## regenerate deploy/kubernetes/photogate.yaml (the full manifest set) from the Helm chart
	$(GO) test ./test/deploy/ -run TestPlainManifestsAreTheChart -count=1 -update

tools: $(MINIO) ## install the MinIO server used by tests into .tools/bin

$(MINIO):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

helm: $(HELM) ## install helm into .tools/bin (the deploy workflows use it)

helm-path: ## print the pinned helm's path
	@echo $(HELM)

# Go tools, pinned, named name-version like test/harness.GoTool installs
# them, so tests and make share one copy.
$(ACTIONLINT):
	@$(call go-tool,actionlint,github.com/rhysd/actionlint/cmd/actionlint,$(ACTIONLINT_VERSION))
$(GOVULNCHECK):
	@$(call go-tool,govulncheck,golang.org/x/vuln/cmd/govulncheck,$(GOVULNCHECK_VERSION))
$(HELM):
	@$(call go-tool,helm,helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))
$(INDEXDB):
	@$(call go-tool,indexdb,golang.org/x/vulndb/cmd/indexdb,$(VULNDB_VERSION))

# go-tool name,package,version: go install into a private directory, then
# rename, so that a concurrent test never runs a half-written binary.
define go-tool
mkdir -p $(TOOLS) && tmp=$$(mktemp -d $(TOOLS)/.$(1)-install-XXXXXX) && \
  echo "go install $(2)@$(3)" && \
  GOBIN=$$tmp GOWORK=off GOFLAGS=-buildvcs=false $(GO) install $(2)@$(3) && \
  mv $$tmp/$(notdir $(2)) $(TOOLS)/$(1)-$(3); st=$$?; rm -rf $$tmp; exit $$st
endef

clean: ## remove all build output: bin/ (binaries, dist, coverage), stray binaries and test output (not .tools or data)
	rm -rf bin test/bench/results
	rm -f photogate photogate.exe *.exe *.test *.out
