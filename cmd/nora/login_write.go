package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// loginUser is the user name nora login writes beside the token: nora
// takes a token as the password of any user name.
const loginUser = "nora"

// loginTarget is what the credential writers need: where nora is, the
// token, and where the clients look for their files.
type loginTarget struct {
	server *url.URL // scheme, host and path prefix; no trailing slash
	token  string
	home   string
	env    []string
}

// base is the server's URL without a trailing slash.
func (t loginTarget) base() string { return t.server.String() }

// wrote is one file a writer updated, for the report: never the token.
type wrote struct{ client, path, what string }

// credWriter writes the credentials of the clients of one --write name.
type credWriter struct {
	name  string
	write func(loginTarget) ([]wrote, error)
}

// credWriters are the --write names, in the order they run and report.
var credWriters = []credWriter{
	{"docker", writeDocker},
	{"npm", writeNPM},
	{"pip", writePip},
	{"cargo", writeCargo},
	{"maven", writeMaven},
}

// writeDocker sets auths[host] in config.json, which docker, crane,
// skopeo and podman read. DOCKER_CONFIG names its directory.
func writeDocker(t loginTarget) ([]wrote, error) {
	dir := lookupEnv(t.env, "DOCKER_CONFIG")
	if dir == "" {
		dir = filepath.Join(t.home, ".docker")
	}
	host := t.server.Host
	var note string
	path, err := updateClientConfig(filepath.Join(dir, "config.json"), func(old []byte) ([]byte, error) {
		b, n, err := setDockerAuth(old, host, base64.StdEncoding.EncodeToString([]byte(loginUser+":"+t.token)))
		note = n
		return b, err
	})
	if err != nil {
		return nil, err
	}
	return []wrote{{"docker", path, fmt.Sprintf("auths[%q]%s", host, note)}}, nil
}

// setDockerAuth sets auths[host] to {"auth": auth}, keeping every other key
// and entry. The note warns when a credential store would be asked first.
func setDockerAuth(old []byte, host, auth string) ([]byte, string, error) {
	doc := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(old)) > 0 {
		if err := json.Unmarshal(old, &doc); err != nil {
			return nil, "", fmt.Errorf("not a JSON object: %w", err)
		}
	}
	auths := map[string]json.RawMessage{}
	if raw := doc["auths"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return nil, "", fmt.Errorf("auths is not a JSON object: %w", err)
		}
	}
	// The whole entry is replaced: an old identitytoken would win over auth.
	auths[host], _ = json.Marshal(map[string]string{"auth": auth})
	doc["auths"], _ = json.Marshal(auths)
	b, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return nil, "", err
	}
	var note string
	var helpers map[string]string
	json.Unmarshal(doc["credHelpers"], &helpers)
	var store string
	json.Unmarshal(doc["credsStore"], &store)
	if h := helpers[host]; h != "" {
		note = fmt.Sprintf("; note: credHelpers names %q for this host, docker asks it instead", h)
	} else if store != "" {
		note = fmt.Sprintf("; note: credsStore %q is set, docker asks it instead", store)
	}
	return append(b, '\n'), note, nil
}

// writeNPM sets //<host>/npm/:_authToken in the user's .npmrc
// (NPM_CONFIG_USERCONFIG, as actions/setup-node sets it, names another).
func writeNPM(t loginTarget) ([]wrote, error) {
	path := lookupEnv(t.env, "NPM_CONFIG_USERCONFIG")
	if path == "" {
		path = lookupEnv(t.env, "npm_config_userconfig")
	}
	if path == "" {
		path = filepath.Join(t.home, ".npmrc")
	}
	registry := t.base() + "/npm/"
	key := strings.TrimPrefix(registry, t.server.Scheme+":") + ":_authToken"
	path, err := updateClientConfig(path, func(old []byte) ([]byte, error) {
		return setNPMRC(old, key, t.token), nil
	})
	if err != nil {
		return nil, err
	}
	return []wrote{{"npm", path, key + " (for the registry " + registry + ")"}}, nil
}

// setNPMRC makes key=value the one line of key in an .npmrc, in place of
// the first old one, else at the end.
func setNPMRC(old []byte, key, value string) []byte {
	var out []string
	done := false
	for _, l := range strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(old), "\r\n", "\n"), "\n"), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == key {
			if !done {
				out, done = append(out, key+"="+value), true
			}
			continue
		}
		out = append(out, l)
	}
	if len(out) == 1 && out[0] == "" {
		out = nil
	}
	if !done {
		out = append(out, key+"="+value)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// writePip sets pip's index-url (pip.conf) to nora's simple index with
// the token in it, and a [nora] repository in .pypirc for twine.
func writePip(t loginTarget) ([]wrote, error) {
	index := t.base() + "/simple/"
	withToken := *t.server
	withToken.User = url.UserPassword(loginUser, t.token)
	conf, err := updateClientConfig(filepath.Join(t.home, ".config", "pip", "pip.conf"), func(old []byte) ([]byte, error) {
		// pip reads index_url as index-url: set replaces either spelling.
		f := parseINI(old)
		f.set("global", "index-url", withToken.String()+"/simple/")
		return f.bytes(), nil
	})
	if err != nil {
		return nil, err
	}
	rc, err := updateClientConfig(filepath.Join(t.home, ".pypirc"), func(old []byte) ([]byte, error) {
		f := parseINI(old)
		servers, _ := f.get("distutils", "index-servers")
		names := strings.Fields(servers)
		if !slices.Contains(names, loginUser) {
			names = append(names, loginUser)
		}
		f.set("distutils", "index-servers", strings.Join(names, "\n"))
		f.set(loginUser, "repository", index)
		f.set(loginUser, "username", loginUser)
		f.set(loginUser, "password", t.token)
		return f.bytes(), nil
	})
	if err != nil {
		return []wrote{{"pip", conf, "[global] index-url " + index}}, err
	}
	return []wrote{
		{"pip", conf, "[global] index-url " + index},
		{"twine", rc, "[" + loginUser + "] repository " + index + " (twine upload -r " + loginUser + ")"},
	}, nil
}

// writeCargo sets [registries.nora] token, which cargo sends as the raw
// Authorization header. CARGO_HOME moves ~/.cargo; the legacy credentials
// file wins over credentials.toml when it exists, as it does for cargo.
func writeCargo(t loginTarget) ([]wrote, error) {
	dir := lookupEnv(t.env, "CARGO_HOME")
	if dir == "" {
		dir = filepath.Join(t.home, ".cargo")
	}
	path := filepath.Join(dir, "credentials.toml")
	if _, err := os.Stat(filepath.Join(dir, "credentials")); err == nil {
		path = filepath.Join(dir, "credentials")
	}
	path, err := updateClientConfig(path, func(old []byte) ([]byte, error) {
		return setCargoToken(old, loginUser, t.token)
	})
	if err != nil {
		return nil, err
	}
	return []wrote{{"cargo", path, "[registries." + loginUser + "] token (index sparse+" + t.base() + "/cargo/index/)"}}, nil
}

// setCargoToken sets registries.<name>.token and keeps every other key.
func setCargoToken(old []byte, name, token string) ([]byte, error) {
	doc := map[string]any{}
	if err := toml.Unmarshal(old, &doc); err != nil {
		return nil, err
	}
	regs, ok := doc["registries"].(map[string]any)
	if !ok && doc["registries"] != nil {
		return nil, fmt.Errorf("registries is not a table")
	}
	if regs == nil {
		regs = map[string]any{}
		doc["registries"] = regs
	}
	reg, ok := regs[name].(map[string]any)
	if !ok && regs[name] != nil {
		return nil, fmt.Errorf("registries.%s is not a table", name)
	}
	if reg == nil {
		reg = map[string]any{}
		regs[name] = reg
	}
	reg["token"] = token
	return toml.Marshal(doc)
}

// writeMaven sets the <server> nora in settings.xml, which a
// <distributionManagement> repository with <id>nora</id> uses.
func writeMaven(t loginTarget) ([]wrote, error) {
	path, err := updateClientConfig(filepath.Join(t.home, ".m2", "settings.xml"), func(old []byte) ([]byte, error) {
		return setMavenServer(old, loginUser, loginUser, t.token)
	})
	if err != nil {
		return nil, err
	}
	return []wrote{{"maven", path, "<server> " + loginUser + " (repository <id>" + loginUser + "</id>, " + t.base() + "/maven2/)"}}, nil
}
