// Command oci assembles nora's multi-arch OCI image from the static
// binaries of `make cross`, without a container engine, and writes it as an
// OCI image layout (skopeo copy oci:DIR:TAG ...). Each platform's image is
// one layer: the binary, the CA bundle, a passwd entry for the unprivileged
// user the image runs as, and its data directory.
//
//	go run ./images/oci -out dist/oci-image -version v1.2.3 \
//		-bin linux/amd64=dist/nora-linux-amd64 -bin linux/arm64=dist/nora-linux-arm64 \
//		-bin linux/arm/v7=dist/nora-linux-arm
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// uid is the image's user: an unprivileged id no host user is likely to
// have (distroless uses the same).
const uid = 65532

// dataDir is nora's storage path in the image; mount a volume there.
const dataDir = "/var/lib/nora"

type binFlags []string

func (b *binFlags) String() string     { return strings.Join(*b, ",") }
func (b *binFlags) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	var bins binFlags
	out := flag.String("out", "dist/oci-image", "OCI layout directory to write (replaced)")
	version := flag.String("version", "dev", "version: image label and tag")
	revision := flag.String("revision", "", "source revision label")
	caFile := flag.String("ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle for TLS to upstreams")
	flag.Var(&bins, "bin", "PLATFORM=BINARY, e.g. linux/arm/v7=dist/nora-linux-arm (repeat)")
	flag.Parse()
	if err := run(*out, *version, *revision, *caFile, bins); err != nil {
		fmt.Fprintln(os.Stderr, "oci:", err)
		os.Exit(1)
	}
}

func run(out, version, revision, caFile string, bins []string) error {
	if len(bins) == 0 {
		return errors.New("no -bin given")
	}
	created, err := sourceDate()
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("cannot read CA bundle: %w", err)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "nora",
		"org.opencontainers.image.description": "pull-through caching proxy for container and package registries",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.created":     created.UTC().Format(time.RFC3339),
	}
	if revision != "" {
		labels["org.opencontainers.image.revision"] = revision
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range bins {
		plat, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-bin %q: want PLATFORM=BINARY", b)
		}
		p, err := v1.ParsePlatform(plat)
		if err != nil {
			return fmt.Errorf("-bin %q: %w", b, err)
		}
		img, err := platformImage(*p, path, ca, created, labels)
		if err != nil {
			return fmt.Errorf("cannot build the %s image: %w", plat, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: p},
		})
	}
	idx = mutate.Annotations(idx, labels).(v1.ImageIndex)
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	lp, err := layout.Write(out, empty.Index)
	if err != nil {
		return fmt.Errorf("cannot write OCI layout: %w", err)
	}
	for _, tag := range []string{version, "latest"} {
		if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": tag,
		})); err != nil {
			return fmt.Errorf("cannot write OCI layout: %w", err)
		}
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s tagged %s and latest, %d platforms\n", out, d, version, len(bins))
	return nil
}

// sourceDate is $SOURCE_DATE_EPOCH (reproducible builds), else now.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
	}
	return time.Unix(n, 0), nil
}

func platformImage(p v1.Platform, binPath string, ca []byte, created time.Time, labels map[string]string) (v1.Image, error) {
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, err
	}
	layer, err := rootLayer(bin, ca, created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "images/oci", Comment: "nora " + labels["org.opencontainers.image.version"]},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Variant = p.Architecture, p.OS, p.Variant
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{"/usr/bin/nora"},
		Cmd:        []string{"serve"},
		Env: []string{
			"PATH=/usr/bin",
			"NORA_STORAGE_PATH=" + dataDir,
		},
		WorkingDir:   dataDir,
		ExposedPorts: map[string]struct{}{"4000/tcp": {}},
		Volumes:      map[string]struct{}{dataDir: {}},
		Labels:       labels,
		// Docker's extension of the image config; engines that only know
		// OCI's ignore it. The image has no shell, so the test is exec form:
		// nora healthcheck asks /ready on the configured listen address.
		Healthcheck: &v1.HealthConfig{
			Test:        []string{"CMD", "/usr/bin/nora", "healthcheck"},
			Interval:    30 * time.Second,
			Timeout:     5 * time.Second,
			StartPeriod: 10 * time.Second,
			Retries:     3,
		},
	}
	return mutate.ConfigFile(img, cf)
}

// rootLayer is the image's only layer, written deterministically.
func rootLayer(bin, ca []byte, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, typ byte, mode int64, owner int, body []byte) error {
		h := &tar.Header{Name: name, Typeflag: typ, Mode: mode, Uid: owner, Gid: owner,
			Size: int64(len(body)), ModTime: mtime, Format: tar.FormatPAX}
		if typ == tar.TypeDir {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnora:x:%d:%d:nora:%s:/sbin/nologin\n", uid, uid, dataDir)
	group := fmt.Sprintf("root:x:0:\nnora:x:%d:\n", uid)
	entries := []struct {
		name  string
		typ   byte
		mode  int64
		owner int
		body  []byte
	}{
		{"etc/", tar.TypeDir, 0o755, 0, nil},
		{"etc/group", tar.TypeReg, 0o644, 0, []byte(group)},
		{"etc/nora/", tar.TypeDir, 0o755, 0, nil},
		{"etc/passwd", tar.TypeReg, 0o644, 0, []byte(passwd)},
		{"etc/ssl/", tar.TypeDir, 0o755, 0, nil},
		{"etc/ssl/certs/", tar.TypeDir, 0o755, 0, nil},
		{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644, 0, ca},
		{"tmp/", tar.TypeDir, 0o1777, 0, nil},
		{"usr/", tar.TypeDir, 0o755, 0, nil},
		{"usr/bin/", tar.TypeDir, 0o755, 0, nil},
		{"usr/bin/nora", tar.TypeReg, 0o755, 0, bin},
		{"var/", tar.TypeDir, 0o755, 0, nil},
		{"var/lib/", tar.TypeDir, 0o755, 0, nil},
		{"var/lib/nora/", tar.TypeDir, 0o750, uid, nil},
	}
	for _, e := range entries {
		if err := add(e.name, e.typ, e.mode, e.owner, e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
