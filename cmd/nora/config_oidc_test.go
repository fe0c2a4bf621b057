package main

import (
	"strings"
	"testing"

	"nora/proxy/proxytest"
)

// provider is a valid [[auth.oidc.providers]] entry but for what a case
// appends.
const provider = `[[auth.oidc.providers]]
name = "github"
issuer = "https://token.actions.example"
audience = "nora"
[[auth.oidc.providers.rules]]
match = { repository = "org/frontend-*", ref = "refs/heads/*" }
permissions = ["push:frontend/**"]
`

func TestConfigOIDC(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", []byte(doc), nil)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("config\n%s\nerror:\n%v\nwant:\n%s", doc, got, want)
		}
	}
	f(provider, "")
	f("[[auth.oidc.providers]]\nname = \"ci\"\nissuer = \"http://127.0.0.1:8080/x\"\naudience = \"a\"\n"+
		"[[auth.oidc.providers.rules]]\nname = \"r\"\nmatch = { sub = \"*\" }\npermissions = [\"pull:**\"]\n", "")
	f(provider+provider, `nora.toml:9: auth.oidc.providers[1].name: provider "github" is configured twice`)
	f("[[auth.oidc.providers]]\nissuer = \"http://ci.example\"\n",
		"nora.toml:1: auth.oidc.providers[0].name: required (it names the provider in the audit log and [[auth.rules]])\n"+
			"nora.toml:2: auth.oidc.providers[0].issuer: \"http://ci.example\": want https (http only on loopback)\n"+
			"nora.toml:1: auth.oidc.providers[0].audience: required (the aud the ID tokens are requested for)\n"+
			"nora.toml:1: auth.oidc.providers[0].rules: want at least one rule: without, every token is refused")
	f("[[auth.oidc.providers]]\nname = \"x\"\nissuer = \"https://ci.example?q=1\"\naudience = \"a\"\n"+
		"[[auth.oidc.providers.rules]]\nmatch = { repository = \"org/[\" }\npermissions = [\"write:x\"]\n"+
		"[[auth.oidc.providers.rules]]\n",
		"nora.toml:3: auth.oidc.providers[0].issuer: \"https://ci.example?q=1\" is not an issuer URL (https://host[/path])\n"+
			"nora.toml:6: auth.oidc.providers[0].rules[0].match.repository: invalid glob \"org/[\": glob: syntax error at 5: unexpected end of input\n"+
			"nora.toml:7: auth.oidc.providers[0].rules[0].permissions: permission \"write:x\": unknown action \"write\" (want pull, push, delete or admin)\n"+
			"nora.toml:8: auth.oidc.providers[0].rules[1].match: want at least one claim, such as { repository = \"my-org/*\" }: an empty match takes every token\n"+
			"nora.toml:8: auth.oidc.providers[0].rules[1].permissions: want at least one, such as \"push:frontend/*\"")
}

// The commented [[auth.oidc.providers]] example of default.toml, once
// uncommented, is a valid provider.
func TestDefaultOIDCExample(t *testing.T) {
	doc := string(defaultTOML)
	start := strings.Index(doc, "# [[auth.oidc.providers]]\n")
	if start < 0 {
		t.Fatal("default.toml has no [[auth.oidc.providers]] example")
	}
	example, _, _ := strings.Cut(doc[start:], "\n\n")
	var b strings.Builder
	for line := range strings.Lines(example) {
		b.WriteString(strings.TrimPrefix(line, "# "))
	}
	cfg, err := parseConfig("nora.toml", []byte(b.String()), nil)
	if err != nil {
		t.Fatalf("%s\n%v", b.String(), err)
	}
	ps := cfg.Auth.OIDC.Providers
	if len(ps) != 1 || len(ps[0].Rules) != 1 || len(ps[0].Rules[0].Match) != 2 {
		t.Fatalf("providers %+v", ps)
	}
}

// The README's OIDC example loads, with the rule it describes.
func TestReadmeOIDCExample(t *testing.T) {
	doc := proxytest.Snippet(t, "[[auth.oidc.providers]]")
	cfg, err := parseConfig("README.md", []byte(doc), nil)
	if err != nil {
		t.Fatalf("%s\n%v", doc, err)
	}
	ps := cfg.Auth.OIDC.Providers
	if len(ps) != 1 || len(ps[0].Rules) != 1 || ps[0].Rules[0].Name != "frontend-ci" {
		t.Fatalf("providers %+v", ps)
	}
}
