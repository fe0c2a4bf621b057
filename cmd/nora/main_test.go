package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nora.toml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCommands(t *testing.T) {
	good := writeConfig(t, "[server]\nlisten = \"127.0.0.1:0\"\n")
	bad := writeConfig(t, "[server]\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n")
	f := func(args string, wantCode int, wantOut, wantErr string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), strings.Fields(args), &stdout, &stderr, nil)
		if code != wantCode || !strings.HasPrefix(stdout.String(), wantOut) || !strings.HasPrefix(stderr.String(), wantErr) {
			t.Errorf("nora %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q..., stderr %q...",
				args, code, stdout.String(), stderr.String(), wantCode, wantOut, wantErr)
		}
	}
	f("config check --config "+good, 0, "ok: "+good+"\n", "")
	f("config check --config "+bad, 1, "", bad+":3: unknown key \"server.lisen\"\n")
	f("version", 0, "nora dev commit ", "")
	f("--version", 0, "nora dev commit ", "")
	f("completion bash", 0, "# bash completion V2 for nora", "")
	f("completion zsh", 0, "#compdef nora", "")
	f("completion fish", 0, "# fish completion for nora", "")
	f("serve --log-level loud --config "+good, 1, "", `--log-level: want debug, info, warn or error, got "loud"`)
	f("serve --config "+bad, 1, "", bad+":3: unknown key")
	f("serve extra", 1, "", `unknown command "extra"`)
}

// lockedBuffer is written by the server's logger while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serve logs "listening" with the bound address and exits 0 when its context
// ends (main's ends on SIGTERM or SIGINT).
func TestServe(t *testing.T) {
	path := writeConfig(t, "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \""+t.TempDir()+"\"\n"+upstream)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", path}, &stdout, &stderr, nil) }()

	deadline := time.After(60 * time.Second) // generous: CI machines are shared
	for addr := ""; addr == ""; {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before listening: %s", code, stderr.String())
		case <-deadline:
			t.Fatalf("no \"listening\" line; stdout:\n%s", stdout.String())
		case <-time.After(10 * time.Millisecond):
		}
		sc := bufio.NewScanner(strings.NewReader(stdout.String()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("log line is not JSON: %s", sc.Text())
			}
			if line.Msg == "listening" {
				addr = line.Addr
			}
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
}
