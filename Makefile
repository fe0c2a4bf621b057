# nora's build, test and release tasks. `make test` is what CI runs.

VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOBUILD   := CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)'
# Benchmarks and fuzzing are sized for a 2-core box.
BENCHTIME ?= 1s
FUZZTIME  ?= 20s

.PHONY: build test bench cross fuzz clean

build:
	$(GOBUILD) -o dist/nora ./cmd/nora

test:
	go vet ./...
	go test -race -count=1 -timeout 40m ./...

bench:
	go test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 30m ./...

cross:
	GOOS=linux GOARCH=amd64 $(GOBUILD) -o dist/nora-linux-amd64 ./cmd/nora
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o dist/nora-linux-arm64 ./cmd/nora
	GOOS=linux GOARCH=arm GOARM=7 $(GOBUILD) -o dist/nora-linux-arm ./cmd/nora

# Each Fuzz target for FUZZTIME: go test -fuzz takes one target of one
# package at a time.
fuzz:
	@set -e; grep -rHo --include='*_test.go' --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*' . | sort -u | \
	while IFS=: read -r file fn; do \
		name=$${fn#func }; dir=$$(dirname "$$file"); \
		echo "fuzz $$dir $$name"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$dir"; \
	done

clean:
	rm -rf dist
