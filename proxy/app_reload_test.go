package proxy

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"nora/auth"
	"nora/cache"
)

func TestAppReload(t *testing.T) {
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	os.WriteFile(htpasswd, []byte("a:"+string(hash)+"\n"), 0o600)
	storage := cache.DefaultConfig()
	storage.Path = filepath.Join(dir, "data")
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	app, err := NewApp(AppConfig{Server: server, Storage: storage,
		Auth: &auth.Config{Htpasswd: htpasswd}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.ln.Close()
	defer app.close()
	known := func(user string) bool {
		_, err := app.auth.Authenticate(user, "pw")
		return err == nil
	}
	if !known("a") || known("b") {
		t.Fatal("wrong users before reload")
	}
	os.WriteFile(htpasswd, []byte("b:"+string(hash)+"\n"), 0o600)
	if err := app.Reload(); err != nil {
		t.Fatal(err)
	}
	if known("a") || !known("b") {
		t.Fatal("reload did not replace the users")
	}
	os.WriteFile(htpasswd, []byte("broken\n"), 0o600)
	if err := app.Reload(); err == nil {
		t.Fatal("broken htpasswd accepted")
	}
	if !known("b") {
		t.Fatal("failed reload dropped the users")
	}
}
