package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/disk"
	"nora/cache/transfer"
	"nora/proxy/admin"
)

// servedStorage is a storage path whose index is held as a running nora
// holds it, with a few objects and a state file, and an admin API on
// backup (nil: one without the backup resource). It returns the config.
func servedStorage(t *testing.T, backup func(side transfer.Side) admin.BackupFunc) string {
	t.Helper()
	path := t.TempDir()
	store, err := disk.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		b := bytes.Repeat([]byte{byte(i)}, 10_000*i)
		if err := store.Put(context.Background(), cache.BlobKey(digest.FromBytes(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	store.Put(context.Background(), "refs/npm/@acme/lib/_doc", strings.NewReader(`{"name":"@acme/lib"}`))
	os.WriteFile(filepath.Join(path, "api-tokens.json"), []byte(`{"tokens":[]}`), 0o600)
	ix, _, err := cache.OpenIndex(filepath.Join(path, "index.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	sockDir, err := os.MkdirTemp("", "nora-bk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	o := admin.Options{Socket: filepath.Join(sockDir, "admin.sock")}
	if backup != nil {
		o.Backup = backup(transfer.Side{Store: store, Path: path})
	}
	s, err := admin.New(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return writeConfig(t, "[server]\nadmin_socket = \""+o.Socket+"\"\n[storage]\npath = \""+path+"\"\n")
}

// nora backup of a running server asks it over the admin socket and gets
// what restore turns back into the same storage; a server without the
// backup resource is named as such.
func TestBackupOfRunningServer(t *testing.T) {
	config := servedStorage(t, func(side transfer.Side) admin.BackupFunc { return transfer.BackupTo(side, t.TempDir()) })
	file := filepath.Join(t.TempDir(), "nora.tar")
	if out := mustNora(t, "backup", file, "--config", config); !strings.Contains(out, "backed up 7 ") {
		t.Fatalf("backup: %s", out)
	}
	restored := writeConfig(t, "[storage]\n"+diskStorage(t))
	mustNora(t, "restore", file, "--config", restored)
	want := contentOf(t, config)
	if len(want) != 7 {
		t.Fatalf("the served storage holds %v", want)
	}
	sameStorage(t, "restored", contentOf(t, restored), want)

	// A backup that fails mid-stream leaves no file.
	failing := servedStorage(t, func(side transfer.Side) admin.BackupFunc {
		return func(ctx context.Context, w io.Writer) error {
			w.Write(bytes.Repeat([]byte{0}, 1024))
			return io.ErrUnexpectedEOF
		}
	})
	file = filepath.Join(t.TempDir(), "cut.tar")
	if code, _, errOut := noraCmd("backup", file, "--config", failing); code == 0 || !strings.Contains(errOut, "backup failed") {
		t.Fatalf("cut stream: exit %d %s", code, errOut)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 0 {
		t.Fatalf("a failed backup left %v", entries)
	}

	old := servedStorage(t, nil)
	if code, _, errOut := noraCmd("backup", file, "--config", old); code == 0 || !strings.Contains(errOut, "does not serve backups") {
		t.Fatalf("server without backups: exit %d %s", code, errOut)
	}
}
