package main

import (
	"bytes"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"golang.org/x/sys/unix"

	"nora/auth"
	"nora/auth/tenant"
	"nora/cache"
	"nora/hosted/retention"
	"nora/proxy"
	"nora/proxy/admin"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/maven"
	"nora/proxy/npm"
	"nora/proxy/prefetch"
	"nora/proxy/pypi"
	"nora/proxy/replicate"
	"nora/proxy/sitetls"
	"nora/proxy/webhook"
)

// fileConfig is the shape of nora.toml (DESIGN 3.2), composed from the
// packages' own Config structs. The sections of later issues are added here
// as fields when their packages exist; until then they are unknown
// sections, an error.
// A new field is picked up by the decoder, the environment overrides and the
// value-type check without further code; add its checks to validate.
type fileConfig struct {
	Server  proxy.Config     `toml:"server"`
	Storage cache.Config     `toml:"storage"`
	Docker  docker.Config    `toml:"docker"`
	Npm     npm.Config       `toml:"npm"`
	PyPI    pypi.Config      `toml:"pypi"`
	Maven   maven.Config     `toml:"maven"`
	Cargo   cargo.Config     `toml:"cargo"`
	Auth    auth.Config      `toml:"auth"`
	GC      cache.GCConfig   `toml:"gc"`
	Audit   auth.AuditConfig `toml:"audit"`
	// Retention is [[retention]]: none by default, nothing is trimmed.
	Retention []retention.Rule `toml:"retention"`
	// Tenants is [[tenants]]: none by default, one default tenant with no
	// limits.
	Tenants []tenant.Config `toml:"tenants"`
	// Webhooks is [[webhooks]]: none by default.
	Webhooks []webhook.Config `toml:"webhooks"`
	// Prefetch is [[prefetch]]: lists warmed on a schedule; none by default.
	Prefetch []prefetch.Config `toml:"prefetch"`
	// Replication is [replication]: remotes and scheduled runs; none by
	// default.
	Replication replicate.Config `toml:"replication"`
}

// defaultFileConfig is what a file that leaves a section or key out means:
// the embedded default.toml decoded over the packages' own defaults. A file
// is decoded over it, so that a key it sets replaces the default's value and
// an array of tables it writes ([[docker.upstreams]], [[maven.upstreams]])
// replaces the default's whole list. A format is off only when its section
// says enabled = false.
func defaultFileConfig() fileConfig {
	cfg := packageDefaults()
	dec := toml.NewDecoder(bytes.NewReader(defaultTOML))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		// A build that embeds a broken default is a bug TestEmbeddedDefault catches.
		panic(fmt.Sprintf("%s: %v", embeddedName, err))
	}
	return cfg
}

// packageDefaults composes the packages' DefaultConfigs, under the
// embedded file's values.
func packageDefaults() fileConfig {
	return fileConfig{
		Server:  proxy.DefaultConfig(),
		Storage: cache.DefaultConfig(),
		Docker:  docker.DefaultConfig(),
		Npm:     npm.DefaultConfig(),
		PyPI:    pypi.DefaultConfig(),
		Maven:   maven.DefaultConfig(),
		Cargo:   cargo.DefaultConfig(),
		Auth:    auth.DefaultConfig(),
		GC:      cache.DefaultGCConfig(),
	}
}

func (c fileConfig) app() proxy.AppConfig {
	return proxy.AppConfig{
		Server: c.Server, Storage: c.Storage, Docker: c.Docker,
		Npm: c.Npm, PyPI: c.PyPI, Maven: c.Maven, Cargo: c.Cargo, Auth: &c.Auth,
		GC: c.GC, Retention: c.Retention, Audit: c.Audit, Tenants: c.Tenants, Webhooks: c.Webhooks,
		Prefetch: c.Prefetch, Replication: c.Replication,
		Build: proxy.Build{Version: version, Commit: buildCommit()},
	}
}

// systemConfigPath is read when --config is not given, if it exists.
const systemConfigPath = "/etc/nora/nora.toml"

// embeddedName stands for the embedded default in messages.
const embeddedName = "embedded default.toml"

//go:embed default.toml
var defaultTOML []byte

// loadConfig reads the configuration from path (the --config flag), else
// from systemPath if that exists, else from the embedded default; applies
// the NORA_* variables of env (os.Environ form) and validates the result.
// It returns the configuration and the name of its source.
func loadConfig(path, systemPath string, env []string) (fileConfig, string, error) {
	return loadChecked(path, systemPath, env, validate)
}

// loadStartable is loadConfig plus what serve's start-up would refuse, short
// of binding ports (startable). nora config check, nora serve and SIGHUP all
// load through it, so that "ok" means serve starts.
func loadStartable(path, systemPath string, env []string) (fileConfig, string, error) {
	return loadChecked(path, systemPath, env, startable)
}

func loadChecked(path, systemPath string, env []string, check func(*fileConfig) []fieldError) (fileConfig, string, error) {
	name, doc := path, []byte(nil)
	switch {
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return fileConfig{}, path, fmt.Errorf("cannot read config: %w", err)
		}
		doc = b
	default:
		b, err := os.ReadFile(systemPath)
		switch {
		case err == nil:
			name, doc = systemPath, b
		case errors.Is(err, fs.ErrNotExist):
			name, doc = embeddedName, defaultTOML
		default:
			return fileConfig{}, systemPath, fmt.Errorf("cannot read config: %w", err)
		}
	}
	cfg, err := parseChecked(name, doc, env, check)
	return cfg, name, err
}

// parseConfig decodes doc (named name in messages) over the defaults, applies
// env and validates. Every error names where the bad value came from: the
// file and line, or the environment variable, and the key.
func parseConfig(name string, doc []byte, env []string) (fileConfig, error) {
	return parseChecked(name, doc, env, validate)
}

// parseChecked is parseConfig with check in place of validate.
func parseChecked(name string, doc []byte, env []string, check func(*fileConfig) []fieldError) (fileConfig, error) {
	cfg := defaultFileConfig()
	idx := indexKeys(doc)
	if err := checkValueTypes(name, idx, &cfg); err != nil {
		return cfg, err
	}
	dec := toml.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, decodeError(name, idx, err)
	}
	fromEnv, err := applyEnv(&cfg, env)
	if err != nil {
		return cfg, err
	}
	if errs := check(&cfg); len(errs) > 0 {
		out := make([]error, len(errs))
		for i, e := range errs {
			switch {
			case fromEnv[e.key] != "":
				out[i] = fmt.Errorf("%s: %s: %s", fromEnv[e.key], e.key, e.msg)
			case idx.line(e.key) > 0:
				out[i] = fmt.Errorf("%s:%d: %s: %s", name, idx.line(e.key), e.key, e.msg)
			default:
				out[i] = fmt.Errorf("%s: %s: %s", name, e.key, e.msg)
			}
		}
		return cfg, errors.Join(out...)
	}
	return cfg, nil
}

// decodeError rewrites go-toml's errors as "file:line: key: message", one
// line per problem; the key names the entry of an array of tables.
func decodeError(name string, idx docIndex, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		out := make([]error, len(strict.Errors))
		for i := range strict.Errors {
			e := &strict.Errors[i]
			line, _ := e.Position()
			what := "key"
			if len(e.Key()) == 1 {
				what = "section"
			}
			out[i] = fmt.Errorf("%s:%d: unknown %s %q", name, line, what, idx.resolve(e.Key(), line))
		}
		return errors.Join(out...)
	}
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("%s: %w", name, err)
	}
	line, _ := de.Position()
	msg := friendlyMessage(strings.TrimPrefix(de.Error(), "toml: "))
	key := idx.resolve(de.Key(), line)
	// Syntax errors carry no key; "key x is already defined" names it.
	if key == "" || strings.Contains(msg, "key "+de.Key()[len(de.Key())-1]) {
		return fmt.Errorf("%s:%d: %s", name, line, msg)
	}
	return fmt.Errorf("%s:%d: %s: %s", name, line, key, msg)
}

var typeMismatch = regexp.MustCompile(`^cannot decode TOML (.+) into struct field \S+ of type (\S+)$`)

// friendlyMessage turns go-toml's type mismatch, which names Go types, into
// words about TOML values.
func friendlyMessage(msg string) string {
	m := typeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := "a table"
	switch t := m[2]; {
	case t == "string":
		want = "a string"
	case t == "bool":
		want = "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		want = "an integer"
	case strings.HasPrefix(t, "float"):
		want = "a number"
	case strings.HasPrefix(t, "[]"):
		want = "an array"
	}
	return fmt.Sprintf("want %s, got a TOML %s", want, m[1])
}

// fieldError is a semantic problem with the value of one key.
type fieldError struct{ key, msg string }

var registryName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?$`)

// problems collects the fieldErrors of a check.
type problems []fieldError

func (p *problems) bad(key, format string, args ...any) {
	*p = append(*p, fieldError{key, fmt.Sprintf(format, args...)})
}

// url checks an optional URL.
func (p *problems) url(key, v string) {
	if v == "" {
		return
	}
	if err := checkHTTPURL(v); err != nil {
		p.bad(key, "%v", err)
	}
}

// validate checks what decoding cannot: values that parse but make no sense.
func validate(c *fileConfig) []fieldError {
	var p problems
	p.server(c)
	p.tls(c)
	p.storage(c)
	p.docker(c)
	p.packages(c)
	p.auth(c)
	p.oidc(c)
	p.audit(c)
	p.tenants(c)
	p.webhooks(c)
	p.prefetch(c)
	p.replication(c)
	if err := admin.ValidateSchedule(c.GC.Schedule); err != nil {
		p.bad("gc.schedule", "%v", err)
	}
	for i, r := range c.Retention {
		if err := r.Check(); err != nil {
			p.bad(fmt.Sprintf("retention[%d]", i), "%v", err)
		}
	}
	return p
}

func (p *problems) server(c *fileConfig) {
	if _, port, err := net.SplitHostPort(c.Server.Listen); err != nil {
		p.bad("server.listen", "want host:port such as \"0.0.0.0:4000\", got %q", c.Server.Listen)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.bad("server.listen", "want a port number from 0 to 65535, got %q", port)
	}
	p.url("server.public_url", c.Server.PublicURL)
	if c.Server.MaxConns < 0 {
		p.bad("server.max_conns", "must not be negative")
	}
	if c.Server.MaxConnsPerIP < 0 {
		p.bad("server.max_conns_per_ip", "must not be negative")
	}
	if c.Server.MaxBufferedBodies < 1 {
		p.bad("server.max_buffered_bodies", "want at least 1, got %d", c.Server.MaxBufferedBodies)
	}
}

func (p *problems) storage(c *fileConfig) {
	switch c.Storage.Backend {
	case "disk":
	case "s3":
		if c.Storage.S3.Bucket == "" {
			p.bad("storage.s3.bucket", "required when storage.backend is \"s3\"")
		}
		p.url("storage.s3.endpoint", c.Storage.S3.Endpoint)
	default:
		p.bad("storage.backend", "want \"disk\" or \"s3\", got %q", c.Storage.Backend)
	}
	if c.Storage.Path == "" {
		p.bad("storage.path", "required (disk data, and the local index in both modes)")
	}
}

func (p *problems) docker(c *fileConfig) {
	if c.Docker.MaxUploadSize <= 0 {
		p.bad("docker.max_upload_size", "must be more than 0, such as \"10GiB\"")
	}
	seen := map[string]int{}
	for i, u := range c.Docker.Upstreams {
		key := func(k string) string { return fmt.Sprintf("docker.upstreams[%d].%s", i, k) }
		switch j, dup := seen[u.Name]; {
		case u.Name == "":
			p.bad(key("name"), "required (the registry this upstream stands for, such as \"ghcr.io\")")
		case !registryName.MatchString(u.Name):
			p.bad(key("name"), "want a registry host name such as \"ghcr.io\", got %q", u.Name)
		case dup:
			p.bad(key("name"), "%q is already the name of docker.upstreams[%d]", u.Name, j)
		default:
			seen[u.Name] = i
		}
		if u.URL == "" {
			p.bad(key("url"), "required")
		}
		p.url(key("url"), u.URL)
		p.url(key("realm"), u.Realm)
		if (u.Username == "") != (u.Password == "") {
			p.bad(key("username"), "username and password go together")
		}
	}
	if err := c.Docker.Check(); err != nil {
		p.bad("docker", "%v", err)
	}
}

// packages checks the npm, PyPI, cargo and Maven sections.
func (p *problems) packages(c *fileConfig) {
	p.url("npm.upstream", c.Npm.Upstream)
	if err := c.Npm.Check(); err != nil {
		p.bad("npm", "%v", err)
	}
	p.url("pypi.upstream", c.PyPI.Upstream)
	p.url("cargo.index", c.Cargo.Index)
	for i, u := range c.Maven.Upstreams {
		key := fmt.Sprintf("maven.upstreams[%d].url", i)
		if u.URL == "" {
			p.bad(key, "required")
		}
		p.url(key, u.URL)
	}
}

// startable is validate plus what proxy.NewApp would refuse, short of
// binding ports and opening the store: the backend must be available, the
// htpasswd file must load (with auth's own loader), the retention rules must
// compile, and the storage path and admin socket directory must be
// creatable and writable. Nothing is created.
func startable(c *fileConfig) []fieldError {
	p := problems(validate(c))
	if len(p) > 0 {
		return p
	}
	if err := writableDir(c.Storage.Path); err != nil {
		p.bad("storage.path", "%v", err)
	}
	if c.Server.AdminSocket != "" {
		if err := writableDir(filepath.Dir(c.Server.AdminSocket)); err != nil {
			p.bad("server.admin_socket", "%v", err)
		}
	}
	if c.Auth.Htpasswd != "" {
		if l, err := auth.New(c.Auth); err != nil {
			p.bad("auth.htpasswd", "%v", err)
		} else {
			l.Close()
		}
	}
	if _, err := retention.Compile(c.Retention); err != nil {
		p.bad("retention", "%v", err)
	}
	p.auditStartable(c)
	if t := c.Server.TLS; t.Mode == sitetls.ModeFiles {
		if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			p.bad("server.tls.cert", "cannot load the certificate and key: %v", err)
		}
	}
	return p
}

// writableDir reports why dir could not be used as a directory nora writes
// in: it, or the nearest ancestor that exists (nora creates the rest), must
// be a directory this process may create files in.
func writableDir(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("cannot use %s: %s is not a directory", dir, d)
		case err == nil:
			if err := unix.Access(d, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("cannot create files in %s: %w", d, err)
			}
			return nil
		// ENOTDIR: a file on the way up, which the next round names.
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) || filepath.Dir(d) == d:
			return fmt.Errorf("cannot use %s: %w", dir, err)
		}
	}
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Redacted: a URL may carry a password, and this error is printed.
		return fmt.Errorf("want an http(s) URL such as \"https://example.com\", got %q", auth.RedactURL(s))
	}
	return nil
}
