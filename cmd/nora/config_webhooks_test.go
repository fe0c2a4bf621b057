package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"nora/internal/units"
	"nora/proxy/webhook"
)

func TestWebhooksConfig(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig("nora.toml", []byte(`
[[webhooks]]
name = "ci"
url = "https://hooks.test/nora"
events = ["push", "fill"]
match = "team/**"
format = "docker"
secret_file = "`+secret+`"
timeout = "3s"
[[webhooks]]
url = "http://127.0.0.1:9/x"
secret = "s"
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []webhook.Config{
		{Name: "ci", URL: "https://hooks.test/nora", Events: []string{"push", "fill"}, Match: "team/**", Format: "docker",
			SecretFile: secret, Timeout: units.Duration(3 * time.Second)},
		{URL: "http://127.0.0.1:9/x", Secret: "s"},
	}
	if !reflect.DeepEqual(cfg.Webhooks, want) || !reflect.DeepEqual(cfg.app().Webhooks, want) {
		t.Errorf("got %+v", cfg.Webhooks)
	}
	if def := defaultFileConfig(); def.Webhooks != nil {
		t.Errorf("default: %+v", def.Webhooks)
	}
}

func TestWebhooksConfigErrors(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", []byte(doc), nil)
		if err == nil || err.Error() != want {
			t.Errorf("config\n%s\nerror:\n%v\nwant:\n%s", doc, err, want)
		}
	}
	const w = "[[webhooks]]\n"
	f(w+"url = \"ftp://x\"\n", `nora.toml:2: webhooks[0].url: want an http or https URL, got "ftp://x"`)
	f(w+"url = \"https://h.test\"\nevents = [\"pull\"]\n",
		`nora.toml:3: webhooks[0].events: unknown event "pull": want some of push, tag, delete, publish, fill`)
	f(w+"url = \"https://h.test\"\nmatch = \"[a\"\n", `nora.toml:3: webhooks[0].match: invalid glob "[a": glob: syntax error at 2: unexpected end of input`)
	f(w+"url = \"https://h.test\"\nformat = \"helm\"\n",
		`nora.toml:3: webhooks[0].format: want one of docker, npm, pypi, maven, cargo, or "" for all, got "helm"`)
	f(w+"url = \"https://h.test\"\nname = \"webhook-1\"\n"+w+"url = \"https://h.test\"\n",
		`nora.toml:4: webhooks[1].name: "webhook-1" is already the name of webhooks[0]`)
	f(w+"url = \"https://h.test\"\nsecret = \"a\"\nsecret_file = \"b\"\n", `nora.toml:4: webhooks[0].secret_file: set secret or secret_file, not both`)
	f(w+"url = \"https://h.test\"\nsecrets = \"a\"\n", `nora.toml:3: unknown key "webhooks[0].secrets"`)
}
