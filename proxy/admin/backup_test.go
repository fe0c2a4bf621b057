package admin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// startBackup serves the admin API with backup as its backup (nil: none).
func startBackup(t *testing.T, backup BackupFunc) *Client {
	t.Helper()
	s := startServer(t, Options{Socket: shortSocket(t), Backup: backup})
	return NewClient(s.Socket())
}

// GET /api/v1/backup streams what the backup writes; a failure before the
// first byte is a JSON error, after it a cut stream; a server without a
// backup says so.
func TestBackupResource(t *testing.T) {
	payload := bytes.Repeat([]byte("tar bytes "), 100_000)
	f := func(backup BackupFunc, wantBody []byte, wantErr string) {
		t.Helper()
		body, err := startBackup(t, backup).Backup(context.Background())
		if err != nil {
			if wantErr == "" || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("Backup: %v, want %q", err, wantErr)
			}
			return
		}
		defer body.Close()
		got, err := io.ReadAll(body)
		if (err != nil) != (wantErr != "") || !bytes.Equal(got[:min(len(got), len(wantBody))], wantBody[:min(len(got), len(wantBody))]) {
			t.Fatalf("read %d bytes, %v; want %d bytes, error %q", len(got), err, len(wantBody), wantErr)
		}
		if wantErr == "" && !bytes.Equal(got, wantBody) {
			t.Fatalf("got %d bytes, want %d", len(got), len(wantBody))
		}
	}
	f(func(_ context.Context, w io.Writer) error { _, err := w.Write(payload); return err }, payload, "")
	f(func(context.Context, io.Writer) error { return errors.New("store down") }, nil, "store down")
	f(func(_ context.Context, w io.Writer) error {
		w.Write(payload)
		return errors.New("store down")
	}, payload, "unexpected EOF")
	f(nil, nil, ErrNoBackup.Error())
}
