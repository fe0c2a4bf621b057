package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"nora/cache/transfer"
)

func backup(t *testing.T, s transfer.Side) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := transfer.Backup(context.Background(), &b, s, transfer.BackupOptions{TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Backup then restore into an empty path gives the same objects and state
// files; Verify accepts the stream; a second restore needs --force.
func TestBackupRestore(t *testing.T) {
	a, b := diskSide(t), diskSide(t)
	fill(t, a)
	want := snapshot(t, a)
	tarball := backup(t, a)
	if rep, err := transfer.Verify(bytes.NewReader(tarball), nil); err != nil || rep.Copied != 9 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	rep, err := transfer.Restore(context.Background(), bytes.NewReader(tarball), b, transfer.RestoreOptions{})
	if err != nil || rep.Copied != 9 {
		t.Fatalf("restore: %+v %v", rep, err)
	}
	sameContent(t, "restored", snapshot(t, b), want)
	_, err = transfer.Restore(context.Background(), bytes.NewReader(tarball), b, transfer.RestoreOptions{})
	if !errors.Is(err, transfer.ErrNotEmpty) {
		t.Fatalf("restore over content: %v", err)
	}
	if _, err := transfer.Restore(context.Background(), bytes.NewReader(tarball), b, transfer.RestoreOptions{Force: true}); err != nil {
		t.Fatalf("restore --force: %v", err)
	}
	sameContent(t, "restored again", snapshot(t, b), want)
}

// A truncated backup and one with a flipped byte are refused, naming the
// entry; only verified blobs may stay, no other object and no state file.
func TestRestoreRefusesBrokenBackup(t *testing.T) {
	a := diskSide(t)
	fill(t, a)
	tarball := backup(t, a)
	f := func(what string, broken []byte, want string) {
		t.Helper()
		b := diskSide(t)
		_, err := transfer.Restore(context.Background(), bytes.NewReader(broken), b, transfer.RestoreOptions{})
		if !errors.Is(err, transfer.ErrDamaged) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want an error with %q", what, err, want)
		}
		for k := range snapshot(t, b) {
			if !strings.HasPrefix(k, "store/blobs/") {
				t.Fatalf("%s: %s was restored from a broken backup", what, k)
			}
		}
		entries, _ := os.ReadDir(b.Path)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".nora-transfer") {
				t.Fatalf("%s: temp %s left", what, e.Name())
			}
		}
		if _, err := transfer.Verify(bytes.NewReader(broken), nil); !errors.Is(err, transfer.ErrDamaged) {
			t.Fatalf("%s: verify: %v", what, err)
		}
	}
	end := bytes.LastIndex(tarball, []byte("nora-backup-end.json"))
	f("cut before the end record", tarball[:end-200], "truncated")
	f("cut in the middle", tarball[:len(tarball)/2], "truncated")
	f("cut in the end record", tarball[:end+600], "end record")
	ref := bytes.Index(tarball, []byte(`{"name":"@scope/name"}`))
	flipped := bytes.Clone(tarball)
	flipped[ref+3] ^= 1
	f("a flipped byte in an object", flipped, "store/refs/npm/@scope/name/_doc")
	key := bytes.Index(tarball, []byte("private"))
	flipped = bytes.Clone(tarball)
	flipped[key] ^= 1
	f("a flipped byte in a state file", flipped, "local/tls/ca.key")
	blob := bytes.Index(tarball, bytes.Repeat([]byte{'c'}, 1000))
	flipped = bytes.Clone(tarball)
	flipped[blob+500] ^= 1
	f("a flipped byte in a blob", flipped, "store/blobs/sha256/")
	name := bytes.Index(tarball, []byte("hosted.db"))
	flipped = bytes.Clone(tarball)
	flipped[name] ^= 1
	f("a flipped byte in a name", flipped, "")
	flipped = bytes.Clone(tarball)
	flipped[bytes.Index(tarball, []byte(`"created":"`))+12] ^= 1 // a digit of the year: only the sum tells
	f("a flipped byte in the header", flipped, "nora-backup.json")
}

// A blob damaged in the store stops the backup, naming it.
func TestBackupRefusesDamagedBlob(t *testing.T) {
	a := diskSide(t)
	key := "blobs/sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // of "hello"
	put(t, a.Store, key, []byte("jello"))
	_, err := transfer.Backup(context.Background(), new(bytes.Buffer), a, transfer.BackupOptions{TempDir: t.TempDir()})
	if !errors.Is(err, transfer.ErrDamaged) || !strings.Contains(err.Error(), key) {
		t.Fatalf("%v", err)
	}
}
