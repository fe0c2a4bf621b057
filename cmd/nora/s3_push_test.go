package main

import (
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"nora/cache/s3/s3test"
	"nora/proxy/proxytest"
)

// TestS3ProcessesPushAlternating: two nora processes on one bucket behind
// a balancer that sends every request to the other process than the last.
// crane push through it moves each upload between the processes (POST on
// one, PATCH on the other, PUT back), and the registry token it fetched
// from one passes on the other; then each process serves the image.
func TestS3ProcessesPushAlternating(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	htpasswd := proxytest.Htpasswd(t, "ci", "s3cret-push")
	start := func() *noraProcess {
		config := fmt.Sprintf("[server]\nlisten = %q\n[storage]\nbackend = \"s3\"\npath = %q\n"+
			"[storage.s3]\nendpoint = %q\nbucket = %q\nregion = %q\npath_style = true\n"+
			"[auth]\nhtpasswd = %q\n[docker]\nupstreams = []\n",
			freeAddr(t), t.TempDir(), srv.Endpoint, bucket, s3test.Region, htpasswd)
		return runProcess(t, os.Args[0], append(s3test.ProcessEnv(), "NORATEST_MAIN=1"), config)
	}
	a, b := start(), start()
	var next atomic.Int64
	var hits [2]atomic.Int64
	targets := []*url.URL{{Scheme: "http", Host: a.addr}, {Scheme: "http", Host: b.addr}}
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		i := next.Add(1) % 2
		hits[i].Add(1)
		pr.SetURL(targets[i])
		pr.Out.Host = pr.In.Host // links and the token realm name the balancer
	}})
	t.Cleanup(lb.Close)
	lbAddr := strings.TrimPrefix(lb.URL, "http://")

	img, err := random.Image(512<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	if err := tarball.WriteToFile(tarPath, name.MustParseReference("team/app:v1"), img); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret-push"))
	var auths []string
	for _, h := range []string{lbAddr, a.addr, b.addr} {
		auths = append(auths, fmt.Sprintf("%q:{\"auth\":%q}", h, auth))
	}
	os.WriteFile(filepath.Join(home, "config.json"), []byte(`{"auths":{`+strings.Join(auths, ",")+`}}`), 0o600)
	crane := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("crane", append([]string{"--insecure"}, args...)...)
		cmd.Env = proxytest.Env(home, "DOCKER_CONFIG="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	crane("push", tarPath, lbAddr+"/team/app:v1")
	if hits[0].Load() < 4 || hits[1].Load() < 4 {
		t.Fatalf("the balancer sent %d and %d requests: the push did not move", hits[0].Load(), hits[1].Load())
	}
	for _, p := range []*noraProcess{a, b} {
		if got := crane("digest", p.addr+"/team/app:v1"); got != want.String() {
			t.Fatalf("%s serves team/app:v1 as %s, want %s", p.addr, got, want)
		}
		crane("pull", p.addr+"/team/app:v1", filepath.Join(t.TempDir(), "pulled.tar"))
		if tags := crane("ls", p.addr+"/team/app"); tags != "v1" {
			t.Fatalf("%s lists tags %q", p.addr, tags)
		}
	}
}
