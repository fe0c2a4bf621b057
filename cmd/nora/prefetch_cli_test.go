package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/prefetch"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// nora prefetch against a running nora: a summary and exit 0 when all is
// fetched, exit 1 and the failed item with its reason otherwise, the
// whole outcome with --json.
func TestPrefetchCLI(t *testing.T) {
	reg := upstreamtest.New(t, upstreamtest.Options{})
	reg.PushRandomImage(t, "library/web", "1", 2, 16<<10)
	up := npmtest.NewRegistry(t)
	up.Publish(t, "left-pad", "1.3.0", 512)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig(), Npm: npm.Config{Upstream: up.URL}}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: reg.URL}}
	n := proxytest.Start(t, cfg)
	conf := writeConfig(t, "[server]\nadmin_socket = \""+n.AdminSocket+"\"\n[storage]\npath = \""+t.TempDir()+"\"\n")
	list := func(s string) string {
		p := filepath.Join(t.TempDir(), "list.txt")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}

	code, stdout, stderr := runCLI("prefetch", "--config", conf, "-f", list("web:1\nleft-pad@^1\n"))
	if code != 0 || !strings.Contains(stdout, "prefetch: 2 fetched, 0 already there, 0 failed") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = runCLI("prefetch", "--config", conf, "-f", list("web:1\n# none such\nno-such-pkg@1\n"))
	if code != 1 || !strings.Contains(stdout, "0 fetched, 1 already there, 1 failed") ||
		!strings.Contains(stdout, "failed: line 3: no-such-pkg@1: GET /npm/no-such-pkg: 404") ||
		!strings.Contains(stderr, "1 of 2 items failed") {
		t.Fatalf("with an unknown package: exit %d\n%s\n%s", code, stdout, stderr)
	}

	code, stdout, _ = runCLI("prefetch", "--config", conf, "--json", "--platform", "linux/amd64", "-f", list("web:1\n"))
	var st prefetch.State
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || st.Summary == nil ||
		st.Platform != "linux/amd64" || st.Summary.Items[0].Status != prefetch.Cached {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, stdout)
	}

	code, _, stderr = runCLI("prefetch", "--config", conf, "-f", list("web:1\nNOT VALID\n"))
	if code != 1 || !strings.Contains(stderr, "line 2") {
		t.Fatalf("a bad list: exit %d, %s", code, stderr)
	}
}
