package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/proxytest"
)

func TestConfigAuthErrors(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", []byte(doc), nil)
		if err == nil || err.Error() != want {
			t.Errorf("config\n%s\nerror:\n%v\nwant:\n%s", doc, err, want)
		}
	}
	const rule = "[[auth.rules]]\nsubject = \"team\"\npermissions = [\"pull:**\"]\n"
	f(rule+"[[auth.rules]]\nsubject = \"ci\"\npermissions = [\"pull:**\", \"write:frontend/*\"]\n",
		`nora.toml:6: auth.rules[1].permissions: permission "write:frontend/*": unknown action "write" (want pull, push, delete or admin)`)
	f("[[auth.rules]]\npermissions = [\"push:rpm:x\", \"pull:\"]\n",
		"nora.toml:1: auth.rules[0].subject: required (a user, a group, an API token's name or an OIDC rule's name)\n"+
			`nora.toml:2: auth.rules[0].permissions: permission "push:rpm:x": unknown format "rpm" (want docker, npm, pypi, maven or cargo)`+"\n"+
			`nora.toml:2: auth.rules[0].permissions: permission "pull:": empty glob`)
	f("[[auth.rules]]\nsubject = \"x\"\npermissions = []\n",
		`nora.toml:3: auth.rules[0].permissions: want at least one, such as "push:frontend/*"`)
	f("[[auth.rules]]\nsubject = \"x\"\npermissions = [\"pull:[a\"]\n",
		`nora.toml:3: auth.rules[0].permissions: permission "pull:[a": invalid glob: glob: syntax error at 2: unexpected end of input`)
	f("[auth.groups]\nops = [\"root\", \" \"]\nteam = [\"\"]\n",
		"nora.toml:2: auth.groups.ops: member 1 is an empty user name\n"+
			"nora.toml:3: auth.groups.team: member 0 is an empty user name")
	if _, err := parseConfig("nora.toml", []byte(rule+"[auth.groups]\nteam = [\"alice\", \"bob\"]\n"), nil); err != nil {
		t.Fatalf("valid rules refused: %v", err)
	}
}

// nora config check says when htpasswd users may write everything.
func TestConfigCheckNotesNoRules(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	htpasswd := filepath.Join(dir, "htpasswd")
	os.WriteFile(htpasswd, []byte("alice:"+string(hash)+"\n"), 0o600)
	base := "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" + filepath.Join(dir, "data") + "\"\n[auth]\nhtpasswd = \"" + htpasswd + "\"\n"
	f := func(doc string, note bool) {
		t.Helper()
		path := filepath.Join(dir, "nora.toml")
		os.WriteFile(path, []byte(doc), 0o600)
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"config", "check", "--config", path}, &out, &errOut, nil); code != 0 {
			t.Fatalf("config check: %d %s", code, errOut.String())
		}
		if got := strings.Contains(out.String(), "note: no [[auth.rules]]: every user of auth.htpasswd may push"); got != note {
			t.Fatalf("config check of\n%s\nsaid %q", doc, out.String())
		}
	}
	f(base, true)
	f(base+"[[auth.rules]]\nsubject = \"alice\"\npermissions = [\"push:**\"]\n", false)
	f("[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \""+filepath.Join(dir, "data")+"\"\n", false)
}

// A SIGHUP reload applies changed [auth.groups] and [[auth.rules]] to the
// serving nora and logs them as applied, not as needing a restart; a
// reload with a bad permission is refused whole.
func TestConfigReloadRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nora.toml")
	htpasswd := proxytest.Htpasswd(t, "alice", "pw")
	base := baseConfig(t) + fmt.Sprintf("[npm]\nupstream = \"http://127.0.0.1:1\"\n[auth]\nanonymous_read = false\nhtpasswd = %q\n", htpasswd)
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(base+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const rule = "[[auth.rules]]\nsubject = \"readers\"\npermissions = [\"pull:**\"]\n"
	write("[auth.groups]\nreaders = [\"bob\"]\n" + rule)
	load := func() (fileConfig, string, error) { return loadStartable(path, "", nil) }
	cfg, _, err := load()
	if err != nil {
		t.Fatal(err)
	}
	logs := &proxytest.Log{}
	app, err := proxy.NewApp(cfg.app(), logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	serveInBackground(t, app)
	reload := configReloader(app, cfg, load, logs.Logger())
	alice := func() int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+app.Addr().String()+"/npm/left-pad", nil)
		req.SetBasicAuth("alice", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := alice(); got != 403 {
		t.Fatalf("alice's read outside the group: %d, want 403", got)
	}
	write("[auth.groups]\nreaders = [\"bob\", \"alice\"]\n" + rule)
	before := logs.String()
	if err := reload(); err != nil {
		t.Fatal(err)
	}
	if got := alice(); got == 403 || got == 401 {
		t.Fatalf("alice's read after joining the group: %d", got)
	}
	if out := strings.TrimPrefix(logs.String(), before); !strings.Contains(out, `"applied":["auth.groups"]`) || strings.Contains(out, "need a restart") {
		t.Errorf("the reload did not log the groups as applied:\n%s", out)
	}
	write("[auth.groups]\nreaders = [\"bob\"]\n[[auth.rules]]\nsubject = \"readers\"\npermissions = [\"read:**\"]\n")
	if err := reload(); err == nil || !strings.Contains(err.Error(), `auth.rules[0].permissions: permission "read:**": unknown action "read"`) {
		t.Fatalf("a reload with a bad rule: %v", err)
	}
	if got := alice(); got == 403 || got == 401 {
		t.Fatalf("a refused reload took alice's read away: %d", got)
	}
}

// The README's rules example loads and means what the README says of it.
func TestReadmeRulesExample(t *testing.T) {
	doc := proxytest.Snippet(t, `subject = "team-frontend"`)
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	var lines string
	for _, u := range []string{"alice", "carol", "root"} {
		h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		lines += u + ":" + string(h) + "\n"
	}
	os.WriteFile(htpasswd, []byte(lines), 0o600)
	doc = strings.Replace(doc, `"/etc/nora/htpasswd"`, fmt.Sprintf("%q", htpasswd), 1)
	cfg, err := parseConfig("README.md", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := auth.New(cfg.Auth)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := func(user string, action auth.Action, format, name string, want bool) {
		t.Helper()
		var id *auth.Identity
		if user != "" {
			if id, err = l.Authenticate(user, "pw"); err != nil {
				t.Fatal(err)
			}
		}
		if got := l.Allowed(id, action, format, name); got != want {
			t.Errorf("%q %s %s %s = %v, want %v", user, action, format, name, got, want)
		}
	}
	f("", auth.Pull, "docker", "frontend/web", true)
	f("", auth.Push, "docker", "frontend/web", false)
	f("alice", auth.Push, "docker", "frontend/web", true)
	f("alice", auth.Push, "docker", "frontend/web/x", false)
	f("alice", auth.Push, "npm", "@frontend/ui", true)
	f("alice", auth.Push, "pypi", "@frontend/ui", false)
	f("alice", auth.Delete, "docker", "frontend/web", false)
	f("carol", auth.Push, "docker", "frontend/web", false)
	f("root", auth.Delete, "maven", "com.acme:lib", true)
}
