package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/proxy/admin"
)

// startAdmin serves the admin API on admin.sock in a temporary storage path
// with jobs that return results of the documented shape; it returns a
// config file for that storage path.
func startAdmin(t *testing.T, jobs map[string]admin.Job) (config, socket string) {
	t.Helper()
	dir := t.TempDir()
	socket = filepath.Join(dir, "admin.sock")
	s, err := admin.New(admin.Options{
		Socket: socket,
		Jobs:   jobs,
		Stats: func(context.Context) (any, error) {
			return map[string]int64{"proxied_bytes": 3 << 30, "hosted_bytes": 1536, "max_size": 200e9, "min_free": 2e9,
				"free_bytes": 50 << 30, "total_bytes": 100 << 30, "objects": 42, "evictions": 3, "evicted_bytes": 512}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return writeConfig(t, "[storage]\npath = \""+dir+"\"\n"), socket
}

func fakeGC(ctx context.Context, dry bool, progress func(done, total int64)) (any, error) {
	progress(2, 2)
	return map[string]any{
		"dry_run": dry,
		"removed": []map[string]any{
			{"key": "sha256:aa", "size": 1536, "what": "blob"},
			{"key": "oci:app@sha256:bb", "size": 0, "what": "manifest"},
			{"key": "sha256:cc", "size": 3 << 20},
		},
		"freed_bytes": 1536 + 3<<20,
	}, nil
}

func TestAdminCommands(t *testing.T) {
	config, socket := startAdmin(t, map[string]admin.Job{
		"gc": fakeGC,
		"retention": func(context.Context, bool, func(int64, int64)) (any, error) {
			return map[string]any{"removed": []any{}}, nil
		},
		"reindex": func(context.Context, bool, func(int64, int64)) (any, error) {
			return nil, errors.New("store unreadable")
		},
	})
	f := func(args string, wantCode int, wantOut, wantErr string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), strings.Fields(args+" --config "+config), &stdout, &stderr, nil)
		if code != wantCode || stdout.String() != wantOut || stderr.String() != wantErr {
			t.Errorf("nora %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d\nstdout:\n%s\nstderr:\n%s",
				args, code, stdout.String(), stderr.String(), wantCode, wantOut, wantErr)
		}
	}
	f("gc", 0, `removed sha256:aa  1.5 KiB (blob)
removed oci:app@sha256:bb (manifest)
removed sha256:cc  3.0 MiB
freed 3.0 MiB (3 items removed)
`, "")
	f("gc --dry-run", 0, `would remove sha256:aa  1.5 KiB (blob)
would remove oci:app@sha256:bb (manifest)
would remove sha256:cc  3.0 MiB
would free 3.0 MiB (3 items)
`, "")
	f("retention --dry-run", 0, "would free 0 B (0 items)\n", "")
	f("reindex", 1, "", "reindex failed: store unreadable\n")
	f("storage stats", 0, `proxied_bytes:  3.0 GiB
hosted_bytes:   1.5 KiB
max_size:       186.3 GiB
min_free:       1.9 GiB
free_bytes:     50.0 GiB
total_bytes:    100.0 GiB
objects:        42
evictions:      3
evicted_bytes:  512 B
`, "")

	// --json: the final job state and nothing else
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"gc", "--dry-run", "--json", "--config", config}, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("gc --dry-run --json: exit %d: %s", code, stderr.String())
	}
	var st struct {
		Name, State string
		DryRun      bool `json:"dry_run"`
		Progress    admin.Progress
		Result      struct {
			DryRun  bool `json:"dry_run"`
			Removed []struct {
				Key  string
				Size int64
			}
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if st.Name != "gc" || st.State != "done" || !st.DryRun || !st.Result.DryRun || st.Progress != (admin.Progress{Done: 2, Total: 2}) ||
		len(st.Result.Removed) != 3 || st.Result.Removed[0].Size != 1536 || stderr.Len() != 0 {
		t.Errorf("gc --dry-run --json: %+v\n%s\nstderr: %s", st, stdout.String(), stderr.String())
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"storage", "stats", "--json", "--config", config}, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("storage stats --json: exit %d: %s", code, stderr.String())
	}
	var stats map[string]int64
	if err := json.Unmarshal(stdout.Bytes(), &stats); err != nil || stats["objects"] != 42 || stats["free_bytes"] != 50<<30 {
		t.Errorf("storage stats --json: %v %s", err, stdout.String())
	}

	// the socket comes from [server] admin_socket when it is set
	other := writeConfig(t, "[server]\nadmin_socket = \""+socket+"\"\n[storage]\npath = \""+t.TempDir()+"\"\n")
	stdout.Reset()
	if code := run(context.Background(), []string{"retention", "--config", other}, &stdout, &stderr, nil); code != 0 {
		t.Errorf("retention with admin_socket: exit %d: %s", code, stderr.String())
	}
}

// A job that is running already is named; the second one does not start.
func TestAdminCommandBusy(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	config, socket := startAdmin(t, map[string]admin.Job{
		"gc": func(ctx context.Context, _ bool, _ func(int64, int64)) (any, error) {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return map[string]any{"removed": []any{}}, nil
		},
		"retention": func(context.Context, bool, func(int64, int64)) (any, error) {
			t.Error("retention ran while gc ran")
			return nil, nil
		},
	})
	defer close(release)
	if _, err := admin.NewClient(socket).Start(context.Background(), "gc", false); err != nil {
		t.Fatal(err)
	}
	<-started
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"retention", "--config", config}, &stdout, &stderr, nil)
	if code != 1 || !strings.HasPrefix(stderr.String(), "cannot start retention: gc has been running since ") {
		t.Errorf("retention while gc runs: exit %d, stderr %q", code, stderr.String())
	}
}

func TestAdminCommandNotRunning(t *testing.T) {
	dir := t.TempDir()
	config := writeConfig(t, "[storage]\npath = \""+dir+"\"\n")
	for _, args := range []string{"gc --dry-run", "retention", "reindex --json", "storage stats"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), strings.Fields(args+" --config "+config), &stdout, &stderr, nil)
		want := "cannot reach nora at " + filepath.Join(dir, "admin.sock") + ": is it running? (no such file or directory; "
		if code != 1 || stdout.Len() != 0 || !strings.HasPrefix(stderr.String(), want) {
			t.Errorf("nora %s: exit %d, stdout %q, stderr %q; want exit 1, stderr %q...", args, code, stdout.String(), stderr.String(), want)
		}
	}
}

func TestPlainProgress(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	p := &plainProgress{w: &out, name: "gc", last: now, every: 5 * time.Second, now: func() time.Time { return now }}
	step := func(d time.Duration, done, total int64) {
		now = now.Add(d)
		p.update(admin.Progress{Done: done, Total: total})
	}
	step(time.Second, 1, 0)   // too soon
	step(4*time.Second, 2, 0) // 5s: unknown total
	step(time.Second, 3, 10)  // too soon
	step(5*time.Second, 4, 10)
	if want := "gc: 2 done\ngc: 4/10 (40%)\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestHumanSize(t *testing.T) {
	f := func(n int64, want string) {
		t.Helper()
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
	f(0, "0 B")
	f(1023, "1023 B")
	f(1024, "1.0 KiB")
	f(1536, "1.5 KiB")
	f(5<<40, "5.0 TiB")
	f(1<<62, "4.0 EiB")
}
