package docker_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"nora/proxy/proxytest"
)

// cli runs the real registry clients (crane, skopeo) with a home and a
// docker config of their own.
type cli struct {
	t    *testing.T
	home string
}

// newCLI returns clients that hold auth for addr when user is set.
func newCLI(t *testing.T, addr, user, pass string) *cli {
	t.Helper()
	c := &cli{t: t, home: t.TempDir()}
	if user != "" {
		cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		cfg := `{"auths":{"` + addr + `":{"auth":"` + cred + `"}}}`
		if err := os.WriteFile(filepath.Join(c.home, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *cli) run(name string, args ...string) (string, error) {
	c.t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		c.t.Fatalf("%s is not installed (.ci/run and .ci/setup-oci.sh install it): %v", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = proxytest.Env(c.home, "DOCKER_CONFIG="+c.home)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (c *cli) crane(args ...string) (string, error) {
	return c.run("crane", append([]string{"--insecure"}, args...)...)
}

func (c *cli) mustCrane(args ...string) string {
	c.t.Helper()
	out, err := c.crane(args...)
	if err != nil {
		c.t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cli) skopeo(args ...string) (string, error) {
	c.t.Helper()
	policy := filepath.Join(c.home, "policy.json")
	os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600)
	return c.run("skopeo", append([]string{"--policy", policy}, args...)...)
}

func (c *cli) mustSkopeo(args ...string) string {
	c.t.Helper()
	out, err := c.skopeo(args...)
	if err != nil {
		c.t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// randomImage is an image of n random layers of size bytes each.
func randomImage(t *testing.T, size int64, n int) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(n))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// ociLayout writes img as an OCI layout with the given tag, for skopeo's
// oci:<dir>:<tag> source.
func ociLayout(t *testing.T, img v1.Image, tag string) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// imageTarball writes img as a docker tarball, for crane push.
func imageTarball(t *testing.T, img v1.Image) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img.tar")
	ref, _ := name.ParseReference("example.invalid/img:x")
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		t.Fatal(err)
	}
	return path
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// do sends one raw API request; user "" sends no credentials.
func do(t *testing.T, method, url, user, pass string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
