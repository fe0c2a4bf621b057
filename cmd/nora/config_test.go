package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"nora/cache"
	"nora/hosted/retention"
	"nora/internal/units"
)

// upstream is a valid [[docker.upstreams]] entry for the cases below.
const upstream = "[[docker.upstreams]]\nname = \"reg.test\"\nurl = \"http://127.0.0.1:5000\"\n"

func TestConfigErrors(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", []byte(doc), nil)
		if err == nil || err.Error() != want {
			t.Errorf("config\n%s\nerror:\n%v\nwant:\n%s", doc, err, want)
		}
	}
	// unknown keys and sections, all of them, with their lines
	f("[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\nsizee = 1\n",
		`nora.toml:5: unknown key "storage.sizee"`)
	f("[storage.s3]\nbuckit = \"b\"\n[quotas]\nttl = \"5m\"\n",
		"nora.toml:2: unknown key \"storage.s3.buckit\"\nnora.toml:3: unknown section \"quotas\"")
	f("[[retention]]\nmatch = \"**\"\nkeep = 1\n", `nora.toml:3: unknown key "retention[0].keep"`)
	f(upstream+upstream+"bogus = 1\n", `nora.toml:7: unknown key "docker.upstreams[1].bogus"`)

	// values that do not parse: line and key
	f("[storage]\npath = \"/tmp/x\"\nmax_size = \"lots\"\n",
		`nora.toml:3: storage.max_size: cannot parse size "lots": want a byte count such as "200GB" or "512MiB"`)
	f(upstream+upstream+"ttl = \"soon\"\n",
		`nora.toml:7: docker.upstreams[1].ttl: cannot parse duration "soon": want a Go duration such as "90s", "5m", "24h" or "90d"`)
	f("[server]\nread_timeout = 30\n",
		`nora.toml:2: server.read_timeout: want a quoted string, got a TOML integer (write read_timeout = "30")`)
	f("[storage]\nmax_size = -1\n[docker]\nnegative_ttl = 1.5\n",
		"nora.toml:2: storage.max_size: want a quoted string, got a TOML integer (write max_size = \"-1\")\n"+
			"nora.toml:4: docker.negative_ttl: want a quoted string, got a TOML float (write negative_ttl = \"1.5\")")
	f("[server]\nlisten = 4000\n", `nora.toml:2: server.listen: want a string, got a TOML integer`)
	f("[server]\nmax_conns = \"many\"\n", `nora.toml:2: server.max_conns: want an integer, got a TOML string`)
	f("[storage]\ns3 = 1\n", `nora.toml:2: storage.s3: want a table, got a TOML integer`)

	// syntax errors
	f("[server]\nlisten = \n", `nora.toml:2: unexpected character U+000A at start of value`)
	f("\n[server\n", `nora.toml:2: expected ']' to close table name`)
	f("[server]\nlisten = \"a:1\"\nlisten = \"b:1\"\n", `nora.toml:3: key listen is already defined`)

	// values that parse but make no sense
	f("[server]\nlisten = \"4000\"\n", `nora.toml:2: server.listen: want host:port such as "0.0.0.0:4000", got "4000"`)
	f("[server]\nlisten = \":http\"\n", `nora.toml:2: server.listen: want a port number from 0 to 65535, got "http"`)
	f("[server]\npublic_url = \"nora.test\"\n",
		`nora.toml:2: server.public_url: want an http(s) URL such as "https://example.com", got "nora.test"`)
	f("[storage]\nbackend = \"tape\"\n", `nora.toml:2: storage.backend: want "disk" or "s3", got "tape"`)
	f("[docker]\nmax_upload_size = \"0\"\n", `nora.toml:2: docker.max_upload_size: must be more than 0, such as "10GiB"`)
	f("[storage]\nbackend = \"s3\"\n", `nora.toml:1: storage.s3.bucket: required when storage.backend is "s3"`)
	f(upstream+upstream, `nora.toml:5: docker.upstreams[1].name: "reg.test" is already the name of docker.upstreams[0]`)
	f(upstream+"[[docker.upstreams]]\nurl = \"ftp://127.0.0.1\"\nrealm = \"/token\"\n",
		"nora.toml:4: docker.upstreams[1].name: required (the registry this upstream stands for, such as \"ghcr.io\")\n"+
			"nora.toml:5: docker.upstreams[1].url: want an http(s) URL such as \"https://example.com\", got \"ftp://127.0.0.1\"\n"+
			"nora.toml:6: docker.upstreams[1].realm: want an http(s) URL such as \"https://example.com\", got \"/token\"")
	f("[[docker.upstreams]]\nname = \"a/b\"\nurl = \"http://127.0.0.1\"\nusername = \"u\"\n",
		"nora.toml:2: docker.upstreams[0].name: want a registry host name such as \"ghcr.io\", got \"a/b\"\n"+
			"nora.toml:4: docker.upstreams[0].username: username and password go together")
	f("[storage]\npath = \"\"\n", `nora.toml:2: storage.path: required (disk data, and the local index in both modes)`)
	f("[gc]\nschedule = \"3am\"\n",
		`nora.toml:2: gc.schedule: want a cron expression such as "0 3 * * *" (minute hour day month weekday), got "3am": expected exactly 5 fields, found 1: [3am]`)
	f("[gc]\nschedule = \"0 0 30 2 *\"\n", `nora.toml:2: gc.schedule: cron expression "0 0 30 2 *" never fires`)
	f("[gc]\ngrace = \"a day\"\n",
		`nora.toml:2: gc.grace: cannot parse duration "a day": want a Go duration such as "90s", "5m", "24h" or "90d"`)
	f("[gc]\ngrace = 86400\n", `nora.toml:2: gc.grace: want a quoted string, got a TOML integer (write grace = "86400")`)
	f("[[retention]]\nmatch = \"**/dev-*\"\nkeep_last = 5\n[[retention]]\nmatch = \"**/pr-*\"\n",
		`nora.toml:4: retention[1]: retention rule "**/pr-*": set keep_last, older_than or both (with neither it would remove everything it matches)`)
	f("[[retention]]\nkeep_last = 5\n", `nora.toml:1: retention[0]: retention rule: match is empty`)
	f("[[retention]]\nmatch = \"a\"\nolder_than = 90\n",
		`nora.toml:3: retention[0].older_than: want a quoted string, got a TOML integer (write older_than = "90")`)
	// a key that neither the document nor an enclosing table header has
	f("storage.backend = \"s3\"\n", `nora.toml: storage.s3.bucket: required when storage.backend is "s3"`)
}

func TestConfigValues(t *testing.T) {
	cfg, err := parseConfig("nora.toml", []byte(`
[server]
listen = "127.0.0.1:0"
[storage]
path = "/tmp/x"
max_size = "512MiB"
s3 = { bucket = "b", path_style = false }
[docker]
negative_ttl = "90s"
`+upstream+`ttl = "1d"
offline = true
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Docker.Upstreams[0]
	if cfg.Server.Listen != "127.0.0.1:0" || cfg.Storage.MaxSize != 512<<20 || cfg.Storage.S3.Bucket != "b" ||
		cfg.Storage.S3.PathStyle || cfg.Storage.S3.Region != "us-east-1" ||
		cfg.Docker.NegativeTTL.D() != 90*time.Second || u.TTL.D() != 24*time.Hour || !u.Offline {
		t.Errorf("got %+v", cfg)
	}
	// keys the file does not set keep their defaults
	if cfg.Server.ReadTimeout.D() != 30*time.Second {
		t.Errorf("server.read_timeout = %v, want the default", cfg.Server.ReadTimeout.D())
	}
}

func TestGCAndRetention(t *testing.T) {
	cfg, err := parseConfig("nora.toml", []byte(`
[server]
admin_socket = "/run/nora/admin.sock"
[gc]
schedule = ""
grace = "2h"
delete_untagged = true
[[retention]]
match = "**/dev-*"
keep_last = 5
older_than = "90d"
[[retention]]
match = "com/acme/**"
older_than = "30d"
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.AdminSocket != "/run/nora/admin.sock" ||
		cfg.GC != (cache.GCConfig{Schedule: "", Grace: units.Duration(2 * time.Hour), DeleteUntagged: true}) {
		t.Errorf("got %+v %+v", cfg.Server, cfg.GC)
	}
	want := []retention.Rule{
		{Match: "**/dev-*", KeepLast: 5, OlderThan: units.Duration(90 * 24 * time.Hour)},
		{Match: "com/acme/**", OlderThan: units.Duration(30 * 24 * time.Hour)},
	}
	if !slices.Equal(cfg.Retention, want) {
		t.Errorf("retention: %+v", cfg.Retention)
	}
	// the defaults: a nightly GC, no retention
	cfg, err = parseConfig("nora.toml", nil, nil)
	if err != nil || cfg.GC != cache.DefaultGCConfig() || cfg.Retention != nil || cfg.Server.AdminSocket != "" {
		t.Errorf("defaults: %+v %+v %v", cfg.GC, cfg.Retention, err)
	}
}

func TestEnvOverrides(t *testing.T) {
	file := []byte("[server]\nlisten = \"127.0.0.1:1\"\n" + upstream)
	f := func(env string, get func(fileConfig) any, want any) {
		t.Helper()
		cfg, err := parseConfig("nora.toml", file, strings.Fields(env))
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		if got := get(cfg); got != want {
			t.Errorf("%s: got %v, want %v", env, got, want)
		}
	}
	f("NORA_SERVER_LISTEN=127.0.0.1:2", func(c fileConfig) any { return c.Server.Listen }, "127.0.0.1:2")
	f("NORA_SERVER_MAX_CONNS=10", func(c fileConfig) any { return c.Server.MaxConns }, 10)
	f("NORA_SERVER_PUBLIC_URL=http://nora.test:4000", func(c fileConfig) any { return c.Server.PublicURL }, "http://nora.test:4000")
	f("NORA_STORAGE_PATH=/srv/nora", func(c fileConfig) any { return c.Storage.Path }, "/srv/nora")
	f("NORA_STORAGE_MAX_SIZE=1GiB", func(c fileConfig) any { return c.Storage.MaxSize }, units.Size(1<<30))
	f("NORA_STORAGE_S3_BUCKET=b", func(c fileConfig) any { return c.Storage.S3.Bucket }, "b")
	f("NORA_STORAGE_S3_PATH_STYLE=false", func(c fileConfig) any { return c.Storage.S3.PathStyle }, false)
	f("NORA_DOCKER_NEGATIVE_TTL=5m", func(c fileConfig) any { return c.Docker.NegativeTTL.D() }, 5*time.Minute)
	f("NORA_STORAGE_BACKEND=s3 NORA_STORAGE_S3_BUCKET=b", func(c fileConfig) any { return c.Storage.Backend }, "s3")
	f("NORA_SERVER_ADMIN_SOCKET=/run/nora/admin.sock", func(c fileConfig) any { return c.Server.AdminSocket }, "/run/nora/admin.sock")
	f("NORA_GC_SCHEDULE=@daily", func(c fileConfig) any { return c.GC.Schedule }, "@daily")
	f("NORA_GC_SCHEDULE=", func(c fileConfig) any { return c.GC.Schedule }, "")
	f("NORA_GC_GRACE=2h", func(c fileConfig) any { return c.GC.Grace.D() }, 2*time.Hour)
	f("NORA_GC_DELETE_UNTAGGED=true", func(c fileConfig) any { return c.GC.DeleteUntagged }, true)
	// variables outside nora's sections are none of its business
	f("NORA_TESTING=1 PATH=/bin", func(c fileConfig) any { return c.Server.Listen }, "127.0.0.1:1")

	fErr := func(env, want string) {
		t.Helper()
		_, err := parseConfig("nora.toml", file, strings.Fields(env))
		if err == nil || err.Error() != want {
			t.Errorf("%s: error:\n%v\nwant:\n%s", env, err, want)
		}
	}
	fErr("NORA_STORAGE_MAX_SIZE=lots",
		`NORA_STORAGE_MAX_SIZE: storage.max_size: cannot parse size "lots": want a byte count such as "200GB" or "512MiB"`)
	fErr("NORA_DOCKER_NEGATIVE_TTL=-1m", `NORA_DOCKER_NEGATIVE_TTL: docker.negative_ttl: duration "-1m" is negative`)
	fErr("NORA_SERVER_MAX_CONNS=many", `NORA_SERVER_MAX_CONNS: server.max_conns: want an integer, got "many"`)
	fErr("NORA_STORAGE_S3_PATH_STYLE=maybe", `NORA_STORAGE_S3_PATH_STYLE: storage.s3.path_style: want true or false, got "maybe"`)
	fErr("NORA_STORAGE_SIZEE=1", `NORA_STORAGE_SIZEE: no such key in [storage]`)
	fErr("NORA_DOCKER_UPSTREAMS_0_URL=http://127.0.0.1",
		`NORA_DOCKER_UPSTREAMS_0_URL: docker.upstreams cannot be set from the environment, only in the file`)
	fErr("NORA_RETENTION_0_MATCH=**", `NORA_RETENTION_0_MATCH: retention cannot be set from the environment, only in the file`)
	fErr("NORA_GC_SCHEDULE=never", `NORA_GC_SCHEDULE: gc.schedule: want a cron expression such as "0 3 * * *" (minute hour day month weekday), got "never": expected exactly 5 fields, found 1: [never]`)
	// semantic errors name the variable that set the value
	fErr("NORA_SERVER_LISTEN=4000", `NORA_SERVER_LISTEN: server.listen: want host:port such as "0.0.0.0:4000", got "4000"`)
	// set but empty is set
	fErr("NORA_SERVER_LISTEN=", `NORA_SERVER_LISTEN: server.listen: want host:port such as "0.0.0.0:4000", got ""`)
}

func TestEnvKeys(t *testing.T) {
	keys, fixed := envKeys(new(fileConfig))
	seen := map[string]string{}
	for _, k := range keys {
		if other, dup := seen[k.name]; dup {
			t.Errorf("%s sets both %s and %s", k.name, other, k.key)
		}
		seen[k.name] = k.key
	}
	for _, name := range []string{"NORA_SERVER_LISTEN", "NORA_STORAGE_PATH", "NORA_STORAGE_MAX_SIZE",
		"NORA_STORAGE_S3_BUCKET", "NORA_DOCKER_NEGATIVE_TTL"} {
		if seen[name] == "" {
			t.Errorf("%s sets nothing", name)
		}
	}
	if !slices.Equal(fixed, [][2]string{{"NORA_SERVER_TLS_HOSTS", "server.tls.hosts"}, {"NORA_SERVER_TRUSTED_PROXIES", "server.trusted_proxies"},
		{"NORA_DOCKER_UPSTREAMS", "docker.upstreams"}, {"NORA_DOCKER_HOSTED_NAMES", "docker.hosted_names"},
		{"NORA_NPM_HOSTED_NAMES", "npm.hosted_names"}, {"NORA_MAVEN_UPSTREAMS", "maven.upstreams"},
		{"NORA_AUTH_GROUPS", "auth.groups"}, {"NORA_AUTH_RULES", "auth.rules"},
		{"NORA_AUTH_OIDC_PROVIDERS", "auth.oidc.providers"}, {"NORA_RETENTION", "retention"}, {"NORA_TENANTS", "tenants"},
		{"NORA_WEBHOOKS", "webhooks"}, {"NORA_PREFETCH", "prefetch"},
		{"NORA_REPLICATION_REMOTES", "replication.remotes"}, {"NORA_REPLICATION_SCHEDULES", "replication.schedules"}}) {
		t.Errorf("not settable from the environment: %v", fixed)
	}
}

// The embedded default parses, validates, documents every key and changes
// none of the packages' defaults: it only adds the public upstreams.
func TestEmbeddedDefault(t *testing.T) {
	cfg, err := parseConfig(embeddedName, defaultTOML, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Docker.Upstreams) != 1 || cfg.Docker.Upstreams[0].Realm == "" {
		t.Errorf("docker upstreams: %+v", cfg.Docker.Upstreams)
	}
	if cfg.Npm.Upstream == "" || cfg.PyPI.Upstream == "" || cfg.Cargo.Index == "" || len(cfg.Maven.Upstreams) != 1 {
		t.Errorf("package upstreams missing: %+v %+v %+v %+v", cfg.Npm, cfg.PyPI, cfg.Cargo, cfg.Maven)
	}
	if !cfg.Docker.IsEnabled() || !cfg.Npm.IsEnabled() || !cfg.PyPI.IsEnabled() || !cfg.Maven.IsEnabled() || !cfg.Cargo.IsEnabled() {
		t.Errorf("a format is off by default")
	}
	cfg.Docker.Upstreams, cfg.Maven.Upstreams = nil, nil
	cfg.Npm.Upstream, cfg.PyPI.Upstream, cfg.Cargo.Index = "", "", ""
	cfg.Docker.Enabled, cfg.Npm.Enabled, cfg.PyPI.Enabled, cfg.Maven.Enabled, cfg.Cargo.Enabled = nil, nil, nil, nil, nil
	if want := packageDefaults(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("default.toml differs from the packages' defaults:\n%+v\nwant:\n%+v", cfg, want)
	}
	idx := indexKeys(defaultTOML)
	var walk func(t reflect.Type, key string)
	walk = func(typ reflect.Type, key string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			k := joinKey(key, tomlName(f))
			switch {
			case isScalar(f.Type), f.Type.Kind() == reflect.Pointer && isScalar(f.Type.Elem()):
				if _, ok := idx[k]; !ok {
					t.Errorf("default.toml does not document %s", k)
				}
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, k)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				if _, ok := idx[k+"[0]"]; ok {
					walk(f.Type.Elem(), k+"[0]")
					break
				}
				// none by default: a commented example documents the keys
				for j := range f.Type.Elem().NumField() {
					ek := tomlName(f.Type.Elem().Field(j))
					if !bytes.Contains(defaultTOML, []byte("\n# "+ek+" = ")) {
						t.Errorf("default.toml does not document %s[].%s (in a commented [[%s]])", k, ek, k)
					}
				}
			}
		}
	}
	walk(reflect.TypeFor[fileConfig](), "")
}

func TestConfigSource(t *testing.T) {
	dir := t.TempDir()
	flagFile, sysFile := filepath.Join(dir, "flag.toml"), filepath.Join(dir, "nora.toml")
	write := func(path, listen string) {
		t.Helper()
		if err := os.WriteFile(path, []byte("[server]\nlisten = \""+listen+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := func(flag, wantSource, wantListen string) {
		t.Helper()
		cfg, source, err := loadConfig(flag, sysFile, nil)
		if err != nil {
			t.Fatal(err)
		}
		if source != wantSource || cfg.Server.Listen != wantListen {
			t.Errorf("--config %q: got %s from %s, want %s from %s", flag, cfg.Server.Listen, source, wantListen, wantSource)
		}
	}
	f("", embeddedName, "0.0.0.0:4000")
	write(sysFile, "127.0.0.1:1")
	f("", sysFile, "127.0.0.1:1")
	write(flagFile, "127.0.0.1:2")
	f(flagFile, flagFile, "127.0.0.1:2")

	// a file that is named or present but unreadable is an error, never a
	// silent fall back to the default
	if _, _, err := loadConfig(filepath.Join(dir, "missing.toml"), sysFile, nil); err == nil {
		t.Error("missing --config file: no error")
	}
	if _, _, err := loadConfig("", dir, nil); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("unreadable system config: %v", err)
	}
}
