# fiveid — `make run` starts the service, `make test` runs every test.
GO ?= go
PKGS := ./...

.PHONY: help run build test test-race lint bench bench-full fuzz generate verify migrate

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## run the service (embedded store unless DATABASE_URL / REDIS_URL are set)
	$(GO) run ./cmd/fiveid serve

build: ## build bin/fiveid
	$(GO) build -o bin/fiveid ./cmd/fiveid

test: ## all tests (PostgreSQL/Redis tests skip when unreachable, unless CI=true); benchmarks once
	$(GO) test -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x -timeout 20m $(PKGS)

test-race: ## tests with the race detector
	$(GO) test -count=1 -race -timeout 30m $(PKGS)

lint: ## gofmt, go vet, staticcheck, openapi.yaml (libopenapi; the api tests load it with kin-openapi)
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) run ./internal/speclint openapi.yaml

bench: ## microbenchmarks (normalize, compare)
	$(GO) test -run '^$$' -bench . -benchmem ./match/...

fuzz: ## fuzz normalization, scoring and request bodies (both stores) for FUZZTIME each (default 2m)
	$(GO) test -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $${FUZZTIME:-2m} ./match
	$(GO) test -run '^$$' -fuzz '^FuzzCompare$$' -fuzztime $${FUZZTIME:-2m} ./match
	$(GO) test -run '^$$' -fuzz '^FuzzBodies$$' -fuzztime $${FUZZTIME:-2m} ./api

generate: ## regenerate generated code (traditional->simplified table needs Debian's opencc)
	$(GO) generate ./...

verify: generate ## generated code is up to date
	git diff --exit-code

migrate: ## apply database migrations
	$(GO) run ./cmd/fiveid migrate
