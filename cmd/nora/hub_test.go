package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

func craneIn(home string, args ...string) (string, error) {
	cmd := exec.Command("crane", append([]string{"--insecure"}, args...)...)
	cmd.Env = proxytest.Env(home, "DOCKER_CONFIG="+home)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Two nora serve processes, edge -> hub -> the test registry, the hub
// requiring a login that the edge's nora.toml gives: crane pulls through
// both; with the hub killed the edge still serves what it pulled.
func TestHubProcesses(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	img := up.PushRandomImage(t, "library/nginx", "1.27", 2, 32<<10)
	want, _ := img.Digest()
	hubAddr, edgeAddr := freeAddr(t), freeAddr(t)
	hub := startProcess(t, fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n"+
		"[auth]\nanonymous_read = false\nhtpasswd = %q\n[[auth.rules]]\nsubject = \"edge\"\npermissions = [\"pull:**\"]\n"+
		"[[docker.upstreams]]\nname = \"docker.io\"\nurl = %q\n",
		hubAddr, t.TempDir(), proxytest.Htpasswd(t, "edge", "edge-secret"), up.URL))
	startProcess(t, fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n"+
		"[[docker.upstreams]]\nname = \"docker.io\"\nurl = \"http://%s\"\nusername = \"edge\"\npassword = \"edge-secret\"\nttl = \"0s\"\n",
		edgeAddr, t.TempDir(), hubAddr))

	out := filepath.Join(t.TempDir(), "img.tar")
	if got, err := craneIn(t.TempDir(), "digest", edgeAddr+"/nginx:1.27"); err != nil || got != want.String() {
		t.Fatalf("digest through edge and hub = %s, %v; want %s", got, err, want)
	}
	if msg, err := craneIn(t.TempDir(), "pull", edgeAddr+"/nginx:1.27", out); err != nil {
		t.Fatalf("crane pull through edge and hub: %v\n%s", err, msg)
	}
	hub.kill()
	if msg, err := craneIn(t.TempDir(), "pull", edgeAddr+"/nginx:1.27", out); err != nil {
		t.Fatalf("crane pull at the edge with the hub killed: %v\n%s", err, msg)
	}
}

// Two nora serve processes configured as each other's upstream: a cold
// pull fails instead of going round, and a request naming a nora in
// X-Nora-Via is answered 508 by it.
func TestHubProcessLoop(t *testing.T) {
	a, b := freeAddr(t), freeAddr(t)
	conf := func(self, other string) string {
		return fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[[docker.upstreams]]\nname = \"docker.io\"\nurl = \"http://%s\"\n"+
			"[npm]\nupstream = \"http://%s/npm/\"\n", self, t.TempDir(), other, other)
	}
	startProcess(t, conf(a, b))
	startProcess(t, conf(b, a))
	if msg, err := craneIn(t.TempDir(), "digest", a+"/nginx:1.27"); err == nil {
		t.Fatalf("crane digest through a loop succeeded: %s", msg)
	}
	resp, err := http.Get("http://" + a + "/npm/left-pad")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Errorf("npm through a loop: %d, want an error", resp.StatusCode)
	}
}
