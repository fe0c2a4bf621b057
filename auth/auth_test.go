package auth

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	id, _ := l.Authenticate("ci", "pw")
	if l.Allowed(&Identity{Name: "ci"}, Push, "npm", "x") {
		t.Fatal("an identity the file did not vouch for may push")
	}
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

// writeHtpasswd writes user, password, cost triples as an htpasswd file.
// A user written again with the same password and cost keeps its line, as
// an entry left alone in a real file does.
func writeHtpasswd(t testing.TB, path string, entries ...any) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(entries); i += 3 {
		user, pass, cost := entries[i].(string), entries[i+1].(string), entries[i+2].(int)
		k := fmt.Sprint(path, user, pass, cost)
		hash, ok := testHashes.Load(k)
		if !ok {
			h, err := bcrypt.GenerateFromPassword([]byte(pass), cost)
			if err != nil {
				t.Fatal(err)
			}
			hash, _ = testHashes.LoadOrStore(k, string(h))
		}
		b.WriteString(user + ":" + hash.(string) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

var testHashes sync.Map

func newLocal(t testing.TB, path string) *Local {
	t.Helper()
	l, err := New(Config{Htpasswd: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// TestReloadRevokes: a reload that removes a user or changes a password
// ends that user's cached logins, identities and tokens at once; users
// whose entry is unchanged stay logged in.
func TestReloadRevokes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, path, "alice", "a", bcrypt.MinCost, "bob", "b", bcrypt.MinCost, "carol", "c", bcrypt.MinCost)
	l := newLocal(t, path)
	tk, err := NewTokens(0)
	if err != nil {
		t.Fatal(err)
	}
	login := func(user, pass string) *Identity {
		t.Helper()
		id, _ := l.Authenticate(user, pass)
		l.verified.Wait()
		return id
	}
	pushToken := func(id *Identity) string {
		t.Helper()
		tok, _, err := tk.Issue(id, []Access{{Type: "repository", Name: "x", Actions: []string{"pull", "push"}}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	mayPush := func(tok string) bool {
		t.Helper()
		c, err := tk.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		return c.Allows("repository", "x", Push) && l.Allowed(c.Identity(), Push, "docker", "x")
	}
	alice, bob, carol := login("alice", "a"), login("bob", "b"), login("carol", "c")
	aliceTok, bobTok, carolTok := pushToken(alice), pushToken(bob), pushToken(carol)
	anonTok := pushToken(nil)
	if !mayPush(aliceTok) || !mayPush(bobTok) || !mayPush(carolTok) {
		t.Fatal("fresh tokens refused")
	}
	// An Authenticate that checked alice's old entry while the file
	// changed stores its result after the reload cleared the cache.
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len("alice")))
	sum := sha256.Sum256([]byte(string(n[:]) + "alice" + "a"))

	writeHtpasswd(t, path, "bob", "b2", bcrypt.MinCost, "carol", "c", bcrypt.MinCost, "alice2", "a", bcrypt.MinCost)
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	l.verified.SetWithTTL(string(sum[:]), alice.gen, 1, time.Minute)
	l.verified.Wait()

	f := func(what string, ok, want bool) {
		t.Helper()
		if ok != want {
			t.Fatalf("%s: %v, want %v", what, ok, want)
		}
	}
	f("removed user's cached login", login("alice", "a") != nil, false)
	f("old password's cached login", login("bob", "b") != nil, false)
	f("new password", login("bob", "b2") != nil, true)
	f("unchanged user's login", login("carol", "c") != nil, true)
	f("removed user's token", mayPush(aliceTok), false)
	f("token from before the password change", mayPush(bobTok), false)
	f("unchanged user's token", mayPush(carolTok), true)
	f("removed user's identity", l.Allowed(alice, Push, "docker", "x"), false)
	f("removed user's identity reading (anonymous reads off)", l.Allowed(alice, Pull, "docker", "x"), false)
	f("old identity", l.Allowed(bob, Push, "docker", "x"), false)
	f("unchanged identity", l.Allowed(carol, Push, "docker", "x"), true)
	f("anonymous token pushing", l.Allowed(nil, Push, "docker", "x"), false)
	if c, err := tk.Verify(anonTok); err != nil || c.Identity() != nil {
		t.Fatalf("anonymous token: %+v %v", c, err)
	}
	// A user added back under the same name is a new entry.
	writeHtpasswd(t, path, "alice", "a", bcrypt.MinCost)
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	f("re-added user's old token", mayPush(aliceTok), false)
	f("re-added user's login", login("alice", "a") != nil, true)
}

// TestCacheKeyIsUnambiguous: a login cached for user "a\x00b" with
// password "c" is not one of user "a" with password "b\x00c".
func TestCacheKeyIsUnambiguous(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, path, "a\x00b", "c", bcrypt.MinCost, "a", "secret", bcrypt.MinCost)
	l := newLocal(t, path)
	if _, err := l.Authenticate("a\x00b", "c"); err != nil {
		t.Fatal(err)
	}
	l.verified.Wait()
	if id, err := l.Authenticate("a", "b\x00c"); err == nil {
		t.Fatalf("logged in as %q with another user's cached login", id.Name)
	}
}

// TestDummyCost: an unknown user is checked against a hash of the cost
// most of the file's entries have, recomputed by each reload.
func TestDummyCost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	f := func(want int, entries ...any) {
		t.Helper()
		writeHtpasswd(t, path, entries...)
		l := newLocal(t, path)
		if got := l.DummyCost(); got != want {
			t.Fatalf("dummy cost %d, want %d", got, want)
		}
		// A reload to another file recomputes it.
		writeHtpasswd(t, path, "z", "z", 6)
		if err := l.Reload(); err != nil || l.DummyCost() != 6 {
			t.Fatalf("dummy cost after a reload: %d %v", l.DummyCost(), err)
		}
	}
	f(bcrypt.DefaultCost)
	f(5, "a", "x", 5)                           // htpasswd -B
	f(4, "a", "x", 4, "b", "x", 4, "c", "x", 5) // the common cost
	f(5, "a", "x", 4, "b", "x", 5)              // a tie: the higher one
	f(10, "a", "x", 10, "b", "x", 4, "c", "x", 10)
	l, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.DummyCost() != bcrypt.DefaultCost {
		t.Fatalf("dummy cost without a file: %d", l.DummyCost())
	}
}

// TestMalformedEntries: a hash bcrypt would reject before its expensive
// part (so that user would fail faster than an unknown one) is an error
// that names the line, as a hash of another scheme is.
func TestMalformedEntries(t *testing.T) {
	good, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	path := filepath.Join(t.TempDir(), "htpasswd")
	f := func(hash string, ok bool) {
		t.Helper()
		os.WriteFile(path, []byte("# users\nok:"+string(good)+"\nu:"+hash+"\n"), 0o600)
		l, err := New(Config{Htpasswd: path})
		if (err == nil) != ok {
			t.Fatalf("hash %q: %v", hash, err)
		}
		if err != nil {
			if !strings.Contains(err.Error(), path+":3:") {
				t.Fatalf("error does not name the line: %v", err)
			}
			return
		}
		l.Close()
	}
	f(string(good), true)
	f(strings.Replace(string(good), "$2a$", "$2y$", 1), true) // htpasswd -B writes $2y$
	f("$2y$05$short", false)
	f(string(good)+"x", false)
	f(string(good[:len(good)-1]), false)
	f(string(good[:7])+"!"+string(good[8:]), false) // not bcrypt's base64 in the salt
	f(string(good[:len(good)-1])+"=", false)
	f("$2y$99$"+string(good[7:]), false)
	f("$2y$1$"+string(good[7:]), false)
	f("$apr1$abc$def", false)
	f("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", false)
	f("", false)
}

// BenchmarkFailedLogin compares a wrong password with an unknown user, at
// the cost htpasswd -B writes: the two should take the same time.
func BenchmarkFailedLogin(b *testing.B) {
	path := filepath.Join(b.TempDir(), "htpasswd")
	writeHtpasswd(b, path, "alice", "right", 5, "bob", "right", 5)
	l := newLocal(b, path)
	b.Run("wrong-password", func(b *testing.B) {
		for b.Loop() {
			l.Authenticate("alice", "wrong")
		}
	})
	b.Run("unknown-user", func(b *testing.B) {
		for b.Loop() {
			l.Authenticate("mallory", "wrong")
		}
	})
}
