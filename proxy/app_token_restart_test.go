package proxy

import (
	"path/filepath"
	"testing"

	"nora/auth"
	"nora/cache"
)

// TestTokenOutlivesRestart: a registry token fetched before a restart still
// opens /v2/ after it (its key is in the store), so a push under way when
// nora restarts goes on; a token of another key does not.
func TestTokenOutlivesRestart(t *testing.T) {
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	writeUsers(t, htpasswd, "ci", "ci-pw")
	storage := cache.DefaultConfig()
	storage.Path = filepath.Join(dir, "data")
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	cfg := AppConfig{Server: server, Storage: storage, Auth: &auth.Config{Htpasswd: htpasswd}}
	scope := "repository:site/app:push,pull"

	var before string
	t.Run("before", func(t *testing.T) {
		app := runApp(t, cfg, nil)
		before = fetchToken(t, "http://"+app.Addr().String(), "ci", "ci-pw", scope)
	})
	app := runApp(t, cfg, nil)
	base := "http://" + app.Addr().String()
	if status, body := registryCall(t, "GET", base+"/v2/site/app/tags/list", "", "", before); status != 404 {
		t.Fatalf("token from before the restart: %d %s, want 404 NAME_UNKNOWN", status, body)
	}

	other := runApp(t, AppConfig{Server: server, Storage: cache.Config{Path: t.TempDir()}, Auth: cfg.Auth}, nil)
	foreign := fetchToken(t, "http://"+other.Addr().String(), "ci", "ci-pw", scope)
	if status, body := registryCall(t, "GET", base+"/v2/site/app/tags/list", "", "", foreign); status != 401 {
		t.Fatalf("token of another nora's key: %d %s, want 401", status, body)
	}
}
