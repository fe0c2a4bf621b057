package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
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
	n, tokens := proxytest.StartTokens(t, cfg)
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

	// The list from standard input.
	var out bytes.Buffer
	root := newRootCmd(&out, nil)
	root.SetArgs([]string{"prefetch", "--config", conf, "-f", "-"})
	root.SetIn(strings.NewReader("left-pad@1.3.0\n"))
	root.SetOut(&out)
	root.SetErr(&out)
	if err := root.ExecuteContext(context.Background()); err != nil || !strings.Contains(out.String(), "1 already there") {
		t.Fatalf("-f -: %v\n%s", err, out.String())
	}

	// Remote, with an API token holding the admin permission.
	ops := tokens.Create(t, "ops", "admin:**")
	code, stdout, stderr = runCLI("prefetch", "--server", n.URL, "--token", ops, "-f", list("left-pad@1.3.0\n"))
	if code != 0 || !strings.Contains(stdout, "0 fetched, 1 already there, 0 failed") {
		t.Fatalf("--server: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestPrefetchConfig(t *testing.T) {
	list := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(list, []byte("nginx:1\n"), 0o600)
	cfg, err := parseConfig("nora.toml", []byte(`
[[prefetch]]
file = "`+list+`"
schedule = "0 2 * * *"
[[prefetch]]
items = ["nginx:1", "lodash@^4"]
schedule = "@daily"
platform = "linux/arm64"
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []prefetch.Config{{File: list, Schedule: "0 2 * * *"},
		{Items: []string{"nginx:1", "lodash@^4"}, Schedule: "@daily", Platform: "linux/arm64"}}
	if !reflect.DeepEqual(cfg.Prefetch, want) || !reflect.DeepEqual(cfg.app().Prefetch, want) {
		t.Errorf("got %+v", cfg.Prefetch)
	}
	if def := defaultFileConfig(); def.Prefetch != nil {
		t.Errorf("default: %+v", def.Prefetch)
	}
}

func TestPrefetchConfigErrors(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", []byte(doc), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config\n%s\nerror:\n%v\nwant:\n%s", doc, err, want)
		}
	}
	const p = "[[prefetch]]\n"
	f(p+"schedule = \"@daily\"\n", `prefetch[0].file: set file (a list's path) or items (an inline list)`)
	f(p+"file = \"/x\"\nitems = [\"a\"]\nschedule = \"@daily\"\n", `nora.toml:3: prefetch[0].items: set file or items, not both`)
	f(p+"items = [\"a\"]\n", `prefetch[0].schedule: required`)
	f(p+"items = [\"a\"]\nschedule = \"0 0 30 2 *\"\n", `nora.toml:3: prefetch[0].schedule: cron expression "0 0 30 2 *" never fires`)
	f(p+"items = [\"a\", \"NOPE\"]\nschedule = \"@daily\"\n", `nora.toml:2: prefetch[0].items: line 2: "NOPE": invalid image name`)
	f(p+"file = \"/no/such/list\"\nschedule = \"@daily\"\n", `nora.toml:2: prefetch[0].file: cannot read the prefetch list`)
	f(p+"items = [\"a\"]\nschedule = \"@daily\"\nplatform = \"arm64\"\n", `nora.toml:4: prefetch[0].platform: platform "arm64": want os/arch[/variant]`)
}
