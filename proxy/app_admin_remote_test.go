package proxy

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"nora/auth"
)

// The admin API answers on the normal listener to a login that holds the
// admin permission, and to no one else; the backup stays on the socket.
func TestAdminAPIRemote(t *testing.T) {
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	writeUsers(t, htpasswd, "root", "root-pw", "dev", "dev-pw")
	_, base := serveApp(t, auth.Config{AnonymousRead: true, Htpasswd: htpasswd, Rules: []auth.Rule{
		{Subject: "root", Permissions: []string{"admin:**"}},
		{Subject: "dev", Permissions: []string{"push:**"}},
	}})
	call := func(path, user, pass string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("GET %s as %q: Content-Type %q, want JSON", path, user, ct)
		}
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s as %q: %v", path, user, err)
		}
		return resp.StatusCode, body
	}
	if status, body := call("/api/v1/storage/stats", "", ""); status != 401 || body["error"] == nil {
		t.Fatalf("anonymous: %d %v, want 401 with an error", status, body)
	}
	if status, _ := call("/api/v1/storage/stats", "root", "wrong"); status != 401 {
		t.Fatalf("wrong password: %d, want 401", status)
	}
	if status, body := call("/api/v1/storage/stats", "dev", "dev-pw"); status != 403 || body["error"] == nil {
		t.Fatalf("a user without admin: %d %v, want 403", status, body)
	}
	status, body := call("/api/v1/storage/stats", "root", "root-pw")
	if status != 200 {
		t.Fatalf("admin: %d %v, want 200", status, body)
	}
	if _, ok := body["objects"]; !ok {
		t.Fatalf("admin: storage stats without objects: %v", body)
	}
	if status, _ := call("/api/v1/backup", "root", "root-pw"); status != 404 {
		t.Fatalf("backup on the listener: %d, want 404", status)
	}
}
