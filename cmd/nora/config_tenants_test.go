package main

import (
	"reflect"
	"testing"

	"nora/auth"
	"nora/auth/tenant"
	"nora/internal/units"
	"nora/proxy/proxytest"
)

func TestTenantsConfig(t *testing.T) {
	cfg, err := parseConfig("nora.toml", []byte(`
[server]
rate_limit = 120
[[tenants]]
name = "frontend"
prefixes = ["frontend/**", "npm:@frontend/*"]
subjects = ["team-frontend"]
storage_quota = "50GB"
rate_limit = { pull = 20000, push = 2000, bandwidth = "20MB" }
weight = 2
[[tenants]]
name = "default"
rate_limit = { pull = 600 }
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []tenant.Config{
		{Name: "frontend", Prefixes: []string{"frontend/**", "npm:@frontend/*"}, Subjects: []string{"team-frontend"},
			StorageQuota: units.Size(50e9), RateLimit: tenant.RateLimit{Pull: 20000, Push: 2000, Bandwidth: units.Size(20e6)}, Weight: 2},
		{Name: "default", RateLimit: tenant.RateLimit{Pull: 600}},
	}
	if !reflect.DeepEqual(cfg.Tenants, want) || cfg.Server.RateLimit != 120 {
		t.Errorf("got %+v, rate_limit %d", cfg.Tenants, cfg.Server.RateLimit)
	}
	// The app gets them as they are.
	if app := cfg.app(); !reflect.DeepEqual(app.Tenants, want) || app.Server.RateLimit != 120 {
		t.Errorf("app config: %+v, rate_limit %d", app.Tenants, app.Server.RateLimit)
	}
	// None by default: no tenants, no anonymous limit.
	if def := defaultFileConfig(); def.Tenants != nil || def.Server.RateLimit != 0 {
		t.Errorf("default: %+v, rate_limit %d", def.Tenants, def.Server.RateLimit)
	}
}

func TestTenantsConfigErrors(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", []byte(doc), nil)
		if err == nil || err.Error() != want {
			t.Errorf("config\n%s\nerror:\n%v\nwant:\n%s", doc, err, want)
		}
	}
	const a = "[[tenants]]\nname = \"a\"\n"
	f(a+"quota = \"1GB\"\n", `nora.toml:3: unknown key "tenants[0].quota"`)
	f(a+"rate_limit = { pull = 1, burst = 2 }\n", `nora.toml:3: unknown key "tenants[0].rate_limit.burst"`)
	f(a+"storage_quota = 1000\n",
		`nora.toml:3: tenants[0].storage_quota: want a quoted string, got a TOML integer (write storage_quota = "1000")`)
	f(a+"storage_quota = \"lots\"\n",
		`nora.toml:3: tenants[0].storage_quota: cannot parse size "lots": want a byte count such as "200GB" or "512MiB"`)
	f(a+"rate_limit = { bandwidth = 10 }\n",
		`nora.toml:3: tenants[0].rate_limit.bandwidth: want a quoted string, got a TOML integer (write bandwidth = "10")`)
	f(a+"rate_limit = { pull = \"10/h\" }\n", `nora.toml:3: tenants[0].rate_limit: want an integer, got a TOML string`)
	f(a+"[[tenants]]\nprefixes = [\"b/**\"]\n",
		`nora.toml:3: tenants[1].name: required (what metrics, nora tenants ls and the refusals call the tenant)`)
	f(a+a, `nora.toml:4: tenants[1].name: "a" is already the name of tenants[0]`)
	f(a+"rate_limit = { pull = -1, push = -2 }\nweight = -1\n",
		"nora.toml:3: tenants[0].rate_limit.pull: must not be negative (requests per hour; 0: no limit)\n"+
			"nora.toml:3: tenants[0].rate_limit.push: must not be negative (requests per hour; 0: no limit)\n"+
			"nora.toml:4: tenants[0].weight: must not be negative (0 counts as 1)")
	f("[server]\nrate_limit = -5\n", `nora.toml:2: server.rate_limit: must not be negative (0: no limit)`)
}

// What tenant.New refuses, config check refuses, naming the key.
func TestTenantsConfigCompiled(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", []byte(doc), nil)
		if err == nil || err.Error() != want {
			t.Errorf("config\n%s\nerror:\n%v\nwant:\n%s", doc, err, want)
		}
	}
	const a = "[[tenants]]\nname = \"a\"\nprefixes = [\"a/**\"]\n"
	f(a+"[[tenants]]\nname = \"b\"\nprefixes = [\"b/[\"]\n",
		`nora.toml:6: tenants[1].prefixes: tenant "b": prefix "b/[": invalid glob: glob: syntax error at 3: unexpected end of input`)
	f(a+"[[tenants]]\nname = \"b\"\nprefixes = [\"rpm:b/*\"]\n",
		`nora.toml:6: tenants[1].prefixes: tenant "b": prefix "rpm:b/*": unknown format "rpm" (want docker, npm, pypi, maven or cargo)`)
	f("[[tenants]]\nname = \"team a\"\n", `nora.toml:2: tenants[0].name: tenant "team a": a name is letters, digits, '.', '_' and '-'`)
	f("[[tenants]]\nname = \"default\"\nprefixes = [\"**\"]\n",
		`nora.toml:3: tenants[0].prefixes: tenant "default": the default tenant holds the names no prefix matches; it has no prefixes`)
	f(a+"subjects = [\"\"]\n", `nora.toml:4: tenants[0].subjects: tenant "a": empty subject`)
	// A Maven prefix names its format: the coordinate has a colon.
	f("[[tenants]]\nname = \"m\"\nprefixes = [\"com.acme:*\"]\n",
		`nora.toml:3: tenants[0].prefixes: tenant "m": prefix "com.acme:*": unknown format "com.acme" (want docker, npm, pypi, maven or cargo)`)
	if _, err := parseConfig("nora.toml", []byte("[[tenants]]\nname = \"m\"\nprefixes = [\"maven:com.acme:*\"]\n"), nil); err != nil {
		t.Errorf("maven:com.acme:* refused: %v", err)
	}
}

func TestTenantsEnv(t *testing.T) {
	cfg, err := parseConfig("nora.toml", nil, []string{"NORA_SERVER_RATE_LIMIT=30"})
	if err != nil || cfg.Server.RateLimit != 30 {
		t.Fatalf("NORA_SERVER_RATE_LIMIT=30: %d, %v", cfg.Server.RateLimit, err)
	}
	f := func(env, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", nil, []string{env})
		if err == nil || err.Error() != want {
			t.Errorf("%s: error:\n%v\nwant:\n%s", env, err, want)
		}
	}
	f("NORA_SERVER_RATE_LIMIT=-1", `NORA_SERVER_RATE_LIMIT: server.rate_limit: must not be negative (0: no limit)`)
	f("NORA_SERVER_RATE_LIMIT=lots", `NORA_SERVER_RATE_LIMIT: server.rate_limit: want an integer, got "lots"`)
	f("NORA_TENANTS_0_NAME=a", `NORA_TENANTS_0_NAME: tenants cannot be set from the environment, only in the file`)
}

// The README's tenants example loads, and its tenants own what it says.
func TestTenantsREADME(t *testing.T) {
	cfg, err := parseConfig("README.md", []byte(proxytest.Snippet(t, "[[tenants]]")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.RateLimit != 120 || len(cfg.Tenants) != 2 || cfg.Tenants[0].StorageQuota != units.Size(50e9) {
		t.Fatalf("README example: %+v, rate_limit %d", cfg.Tenants, cfg.Server.RateLimit)
	}
	set, err := tenant.New(tenant.Options{Tenants: cfg.Tenants})
	if err != nil {
		t.Fatal(err)
	}
	team := &auth.Identity{Name: "alice", Subjects: []string{"alice", "team-frontend"}}
	f := func(id *auth.Identity, format, name, want string) {
		t.Helper()
		if got := set.Of(id, format, name).Name(); got != want {
			t.Errorf("%s %s by %v: tenant %s, want %s", format, name, id, got, want)
		}
	}
	f(nil, "docker", "frontend/web", "frontend")
	f(nil, "npm", "@frontend/ui", "frontend")
	f(nil, "docker", "@frontend/ui", "default") // npm: only
	f(team, "docker", "library/nginx", "frontend")
	f(nil, "docker", "library/nginx", "default")
	f(&auth.Identity{Name: "bob", Subjects: []string{"bob"}}, "npm", "lodash", "default")
	if ts := set.Tenants(); len(ts) != 2 || ts[1].Config().RateLimit.Pull != 5000 {
		t.Errorf("the default tenant's limits: %+v", ts)
	}
}
