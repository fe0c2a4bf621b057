# nora's build, test and release tasks. `make test` is what CI runs.

VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOBUILD   := CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)'
# Tools that `go install` puts in GOPATH/bin (crane) are on the tests' PATH.
export PATH := $(shell go env GOPATH)/bin:$(PATH)
# Benchmarks and fuzzing are sized for a 2-core box.
BENCHTIME ?= 1s
FUZZTIME  ?= 20s
# The soak's length (a Go duration); make test runs it for 60s.
SOAK      ?= 10m

.PHONY: build setup test bench cross fuzz clean soak

build:
	$(GOBUILD) -o dist/nora ./cmd/nora

# The real clients and test upstreams the tests drive (skopeo, crane, npm +
# verdaccio, pip + twine, mvn + Debian's Maven plugins, cargo): each format's
# .ci/setup-*.sh installs them on Debian 12 as root; idempotent and quick
# once done.
setup:
	@for s in .ci/setup-*.sh; do echo "== $$s"; bash "$$s"; done

test: setup
	go vet ./...
	go test -race -count=1 -timeout 40m ./...

# The benchmarks drive the same real clients and servers (versitygw) as
# the tests.
bench: setup
	go test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 30m ./...

# 500 clients of every format against one nora with the test upstreams
# behind fault proxies, faults on and off and kill -9 while it runs
# (cmd/soak); SOAK_CLIENTS changes the number of clients.
soak:
	SOAK=$(SOAK) go test ./cmd/soak -run TestSoak -count=1 -v -timeout 0

# The release binaries (and so the packages and images) are built with
# GO_RELEASE, the newest Go the module proxy serves, for the standard
# library's security fixes: make vulncheck fails on a binary built with an
# older one. The tests run on the machine's Go.
GO_RELEASE ?= go1.27.3
cross:
	GOTOOLCHAIN=$(GO_RELEASE) GOOS=linux GOARCH=amd64 $(GOBUILD) -o dist/nora-linux-amd64 ./cmd/nora
	GOTOOLCHAIN=$(GO_RELEASE) GOOS=linux GOARCH=arm64 $(GOBUILD) -o dist/nora-linux-arm64 ./cmd/nora
	GOTOOLCHAIN=$(GO_RELEASE) GOOS=linux GOARCH=arm GOARM=7 $(GOBUILD) -o dist/nora-linux-arm ./cmd/nora

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

# ---- The appliance: .deb packages, OCI image, Raspberry Pi image, and
# their checks. `.ci/appliance.sh` installs the tools and runs
# check-appliance; image and smoke-image are run by hand (slow).

# Computed once per make run (:=): the tree's commit may move while the
# packages are built and checked.
ifeq ($(origin DEB_VERSION), undefined)
DEB_VERSION := $(shell systemd/deb-version.sh)
endif
NFPM        ?= go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
# Timestamps inside packages and images: the commit's, for reproducibility.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
# test-nspawn boots the package of this Debian architecture (amd64, arm64).
NSPAWN_ARCH ?= $(shell dpkg --print-architecture)
RPI_IMAGE   ?= dist/nora-rpi-arm64.img.xz

.PHONY: deb check-deb check-unit check-qemu-user oci-image check-oci test-nspawn check-appliance image smoke-image

# nora_<version>_{amd64,arm64,armhf}.deb in dist/.
deb: cross
	DEB_VERSION='$(DEB_VERSION)' NFPM='$(NFPM)' systemd/build-deb.sh dist amd64 arm64 arm

check-deb: deb
	systemd/check-deb.sh dist/nora_$(DEB_VERSION)_*.deb

check-unit: cross
	systemd/check-unit.sh dist/nora-linux-$(shell go env GOARCH)

# The arm64 and armv7 binaries under qemu-user pull through themselves.
check-qemu-user: cross
	.ci/qemu-user-pull.sh arm64 arm

# nora's multi-arch OCI image as an OCI layout in dist/oci-image:
# skopeo copy --all oci:dist/oci-image:latest docker://REGISTRY/nora:TAG
oci-image: cross
	go run ./images/oci -out dist/oci-image -version '$(VERSION)' -revision '$(COMMIT)' \
		-bin linux/amd64=dist/nora-linux-amd64 -bin linux/arm64=dist/nora-linux-arm64 \
		-bin linux/arm/v7=dist/nora-linux-arm

check-oci: oci-image
	images/oci/check.sh dist/oci-image

test-nspawn: deb
	systemd/test-nspawn.sh dist/nora_$(DEB_VERSION)_$(NSPAWN_ARCH).deb

check-appliance: check-qemu-user check-deb check-unit check-oci test-nspawn

# A flashable Raspberry Pi 3/4 image (images/rpi/README.md); slow.
image: deb
	images/rpi/build.sh dist/nora_$(DEB_VERSION)_arm64.deb $(RPI_IMAGE)

# Boots the image's kernel and root filesystem under qemu-system-aarch64.
smoke-image:
	images/rpi/smoke.sh $(RPI_IMAGE)

# ---- Release: every artifact with a CycloneDX SBOM (syft) beside it, a
# gate that fails on any known vulnerability in the binaries (govulncheck,
# its database built offline from the golang.org/x/vulndb module), and
# SHA256SUMS. check-release, which CI runs, is all of it but the slow Pi
# image (whose SBOM images/rpi/build.sh writes).
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
SYFT           ?= go run github.com/anchore/syft/cmd/syft@v1.57.2
export VULNDB_VERSION SYFT

.PHONY: vulncheck sbom check-release release

vulncheck: cross
	images/release/vulncheck.sh dist/nora-linux-amd64 dist/nora-linux-arm64 dist/nora-linux-arm

sbom: cross deb oci-image
	images/release/sbom.sh '$(DEB_VERSION)' dist/nora-linux-amd64 dist/nora-linux-arm64 dist/nora-linux-arm \
		dist/nora_$(DEB_VERSION)_*.deb dist/oci-image

check-release: vulncheck sbom

release: check-release image
	cd dist && sha256sum nora-linux-* nora_$(DEB_VERSION)_*.deb* oci-image.*.cdx.json $(notdir $(RPI_IMAGE))* >SHA256SUMS
	@echo "release $(DEB_VERSION): dist/SHA256SUMS"
