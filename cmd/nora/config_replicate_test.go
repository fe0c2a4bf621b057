package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy/replicate"
)

func TestReplicationConfig(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "hub.token")
	if err := os.WriteFile(tok, []byte("nora_secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig("nora.toml", []byte(`
[[replication.remotes]]
name = "hub"
url = "https://hub.test"
token_file = "`+tok+`"
[[replication.schedules]]
to = "hub"
match = ["prod/*"]
prefix = "site1/"
schedule = "@daily"
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.app().Replication
	if len(r.Remotes) != 1 || len(r.Schedules) != 1 || r.Schedules[0].Request().Prefix != "site1/" {
		t.Fatalf("%+v", r)
	}
	if got, err := r.Remotes[0].ReadToken(); err != nil || got != "nora_secret" {
		t.Fatalf("token %q, %v", got, err)
	}
	var _ replicate.Config = r
}

func TestReplicationConfigErrors(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", []byte(doc), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config\n%s\nerror:\n%v\nwant:\n%s", doc, err, want)
		}
	}
	const r = "[[replication.remotes]]\nname = \"hub\"\nurl = \"https://hub.test\"\n"
	const s = "[[replication.schedules]]\n"
	f("[[replication.remotes]]\nurl = \"https://hub.test\"\n", `replication.remotes[0].name: set a name`)
	f("[[replication.remotes]]\nname = \"hub\"\nurl = \"ftp://x\"\n", `replication.remotes[0].url: an http:// or https:// URL`)
	f(r+"token = \"a\"\ntoken_file = \"b\"\n", `replication.remotes[0].token_file: set token or token_file, not both`)
	f(r+"token_file = \"/nonexistent/token\"\n", `replication.remotes[0].token_file:`)
	f(r+s+"to = \"elsewhere\"\nmatch = [\"x\"]\nschedule = \"@daily\"\n", `replication.schedules[0].to: no remote "elsewhere"`)
	f(r+s+"to = \"hub\"\nfrom = \"hub\"\nmatch = [\"x\"]\nschedule = \"@daily\"\n", `name one of to and from`)
	f(r+s+"to = \"hub\"\nmatch = [\"x\"]\n", `replication.schedules[0].schedule: set a cron schedule`)
	f(r+s+"to = \"hub\"\nmatch = [\"x\"]\nschedule = \"not cron\"\n", `replication.schedules[0].schedule:`)
	f(r+s+"to = \"hub\"\nschedule = \"@daily\"\n", `no --match pattern`)
	f(r+"tokn = \"a\"\n", `unknown key "replication.remotes[0].tokn"`)
}
