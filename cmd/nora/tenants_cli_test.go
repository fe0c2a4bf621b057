package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"nora/proxy/admin"
)

// nora tenants ls against a running nora with two tenants: an image
// pushed by the real crane into one's prefix shows as its bytes.
func TestTenantsLs(t *testing.T) {
	l := startLifecycle(t, "", `
[[tenants]]
name = "frontend"
prefixes = ["frontend/**", "npm:@frontend/*"]
storage_quota = "1GiB"
rate_limit = { pull = 5000, push = 500 }
[[tenants]]
name = "backend"
prefixes = ["backend/**"]
`)
	ls := func() []admin.TenantInfo {
		t.Helper()
		out, err := l.nora("tenants", "ls", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var ts []admin.TenantInfo
		if err := json.Unmarshal([]byte(out), &ts); err != nil {
			t.Fatalf("tenants ls --json: %v\n%s", err, out)
		}
		return ts
	}
	before := ls()
	if len(before) != 3 || before[0].Name != "frontend" || before[1].Name != "backend" || before[2].Name != "default" ||
		before[0].StorageBytes != 0 {
		t.Fatalf("before the push: %+v", before)
	}

	img := l.push("frontend/app:1", 64<<10, 2)
	var size int64
	layers, _ := img.Layers()
	for _, layer := range layers {
		n, _ := layer.Size()
		size += n
	}
	after := ls()
	fe := after[0]
	// The layers, the config and the manifest: more than the layers alone.
	if fe.StorageBytes <= size || fe.Objects != 4 || fe.StorageQuota != 1<<30 || fe.RateLimit.Pull != 5000 {
		t.Errorf("frontend after pushing %d bytes of layers: %+v", size, fe)
	}
	if after[1].StorageBytes != 0 || after[2].StorageBytes != 0 {
		t.Errorf("another tenant counts the push: %+v", after)
	}

	// The table, for people.
	out, err := l.nora("tenants", "ls")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"NAME PREFIXES QUOTA USED PULL/h PUSH/h",
		"frontend frontend/**,npm:@frontend/* 1.0 GiB " + humanSize(fe.StorageBytes) + " 5000 500",
		"backend backend/** - 0 B - -",
		"default - - 0 B - -",
	}
	if len(lines) != len(want) {
		t.Fatalf("tenants ls:\n%s", out)
	}
	for i, line := range lines {
		if got := strings.Join(strings.Fields(line), " "); got != want[i] {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}
}

// --server and --token: the admin API on nora's listener, for an API token
// with the admin permission and no one else.
func TestTenantsLsRemote(t *testing.T) {
	l := startLifecycle(t, "", "[[tenants]]\nname = \"frontend\"\nprefixes = [\"frontend/**\"]\n")
	l.push("frontend/app:1", 16<<10, 1)
	token := func(name, perm string) string {
		t.Helper()
		out, err := l.nora("token", "create", "--name", name, "--permissions", perm)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	ops, pusher := token("ops", "admin:**"), token("ci", "push:**")
	server := "http://" + l.p.addr

	out, err := l.nora("tenants", "ls", "--server", server, "--token", ops, "--json")
	var ts []admin.TenantInfo
	if err != nil || json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 2 || ts[0].Name != "frontend" || ts[0].StorageBytes == 0 {
		t.Fatalf("tenants ls --server: %v\n%s", err, out)
	}
	f := func(wantErr string, args ...string) {
		t.Helper()
		out, err := l.nora(append([]string{"tenants", "ls"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), wantErr) || out != "" {
			t.Errorf("tenants ls %v: %v\n%s\nwant an error with %q", args, err, out, wantErr)
		}
	}
	f("exit 1: cannot list tenants: not allowed to admin the admin API", "--server", server, "--token", pusher)
	f("exit 1: cannot list tenants: invalid user name or password", "--server", server, "--token", "nora_wrong")
	f("exit 1: cannot list tenants: authentication required", "--server", server)
	f("exit 1: --token goes with --server", "--token", ops)
	f("exit 1: --server: want the server's base URL such as https://nora.example.com", "--server", l.p.addr, "--token", ops)
	nobody := "http://" + freeAddr(t)
	f("exit 1: cannot reach nora at "+nobody+": ", "--server", nobody, "--token", ops)
}

// Without a running server: exit 1 and why.
func TestTenantsLsNoServer(t *testing.T) {
	config := writeConfig(t, "[storage]\npath = \""+t.TempDir()+"\"\n")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"tenants", "ls", "--config", config}, &stdout, &stderr, nil)
	if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "cannot reach nora at ") ||
		!strings.Contains(stderr.String(), "is it running?") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
}
