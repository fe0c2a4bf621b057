package auth

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestLocal(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	path := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(path, []byte("# users\nci:"+string(hash)+"\n"), 0o600)
	l, err := New(Config{AnonymousRead: false, Htpasswd: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := func(user, pass string, ok bool) {
		t.Helper()
		for range 2 { // second time from the verification cache
			id, err := l.Authenticate(user, pass)
			if (err == nil) != ok || (ok && id.Name != user) {
				t.Fatalf("Authenticate(%q, %q) = %v, %v", user, pass, id, err)
			}
			l.verified.Wait()
		}
	}
	f("ci", "pw", true)
	f("ci", "wrong", false)
	f("nobody", "pw", false)
	id := &Identity{Name: "ci"}
	if l.Allowed(nil, Pull, "docker", "x") || !l.Allowed(id, Pull, "docker", "x") || !l.Allowed(id, Push, "npm", "x") || l.Allowed(nil, Push, "npm", "x") {
		t.Fatal("wrong permissions")
	}
	if !l.WritesEnabled() {
		t.Fatal("writes disabled with an htpasswd file")
	}
	os.WriteFile(path, []byte("broken line\n"), 0o600)
	if err := l.Reload(); err == nil {
		t.Fatal("bad htpasswd accepted")
	}
}

func TestNoHtpasswd(t *testing.T) {
	l, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.WritesEnabled() || !l.Allowed(nil, Pull, "docker", "x") || l.Allowed(nil, Push, "docker", "x") {
		t.Fatal("default auth should allow anonymous reads and no writes")
	}
}
