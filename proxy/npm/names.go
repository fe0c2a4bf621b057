package npm

import (
	"errors"
	"net/url"
	"strings"
)

// kind is what a request under /npm/ asks for.
type kind int

const (
	kindPackument kind = iota + 1 // GET /npm/<name>
	kindTarball                   // GET /npm/<name>/-/<file>.tgz
	kindPing                      // GET /npm/-/ping
	kindAudit                     // POST /npm/-/npm/v1/security/...
)

// request is a parsed, validated request path. name and file are safe to
// use in cache keys and upstream URLs.
type request struct {
	kind kind
	name string // "lodash", "@acme/dep"
	file string // tarball file name, "dep-1.0.0.tgz"
	api  string // registry API path for kindAudit, relative to the upstream base
}

var (
	errUnknownPath = errors.New("unknown registry path")
	errInvalidName = errors.New("invalid package name")
	errInvalidFile = errors.New("invalid tarball file name")
)

// auditPaths are the npm audit endpoints forwarded upstream.
var auditPaths = map[string]bool{
	"-/npm/v1/security/advisories/bulk": true,
	"-/npm/v1/security/audits/quick":    true,
}

// parseRequest parses the raw (still percent-encoded) path of a request
// under /npm/. npm asks for scoped packuments as /npm/@scope%2fname and for
// their tarballs as /npm/@scope/name/-/name-1.0.0.tgz; both spellings of a
// name mean the same package.
func parseRequest(rawPath string) (request, error) {
	rest, ok := strings.CutPrefix(rawPath, "/npm/")
	if !ok {
		return request{}, errUnknownPath
	}
	rest, err := url.PathUnescape(rest)
	if err != nil || rest == "" {
		return request{}, errUnknownPath
	}
	if api, ok := strings.CutPrefix(rest, "-/"); ok {
		switch {
		case api == "ping":
			return request{kind: kindPing}, nil
		case auditPaths[rest]:
			return request{kind: kindAudit, api: rest}, nil
		}
		return request{}, errUnknownPath
	}
	segs := strings.Split(rest, "/")
	nameLen := 1
	if strings.HasPrefix(rest, "@") {
		nameLen = 2
	}
	var r request
	switch {
	case len(segs) == nameLen:
		r.kind = kindPackument
	case len(segs) == nameLen+2 && segs[nameLen] == "-":
		r.kind, r.file = kindTarball, segs[nameLen+1]
	default:
		return request{}, errUnknownPath
	}
	r.name = strings.Join(segs[:nameLen], "/")
	if !validName(r.name) {
		return request{}, errInvalidName
	}
	if r.kind == kindTarball && !validFile(r.file) {
		return request{}, errInvalidFile
	}
	return r, nil
}

// maxNameLen is npm's limit on package names.
const maxNameLen = 214

// validName reports whether name is a package name npm could have
// published: "name" or "@scope/name", url-safe characters only (upper case
// is allowed: old packages have it), no leading dot or underscore, at most
// 214 bytes. Such a name is one path segment, or two for a scoped one, and
// never "." or "..".
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	if scoped, ok := strings.CutPrefix(name, "@"); ok {
		scope, pkg, ok := strings.Cut(scoped, "/")
		return ok && validPart(scope) && validPart(pkg)
	}
	return name[0] != '_' && validPart(name) && name != "node_modules" && name != "favicon.ico"
}

func validPart(s string) bool {
	if s == "" || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i]) {
			return false
		}
	}
	return true
}

// nameChar reports the characters encodeURIComponent leaves alone, which is
// npm's rule for names.
func nameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!*'()", c) >= 0
}

// validFile reports whether f is a tarball file name we serve:
// "<something>.tgz" of safe characters, no leading dot.
func validFile(f string) bool {
	if len(f) <= len(".tgz") || len(f) > 255 || f[0] == '.' || !strings.HasSuffix(f, ".tgz") {
		return false
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; !nameChar(c) && c != '+' {
			return false
		}
	}
	return true
}

// Cache keys. A valid name is one segment that does not start with "@",
// or two of which the first does, so the keys below cannot collide; the
// "_" documents are never tarballs (those end in .tgz and sit under "-").
func docKey(name string, abbreviated bool) string {
	if abbreviated {
		return "refs/npm/" + name + "/_abbreviated"
	}
	return "refs/npm/" + name + "/_packument"
}

func tarballKey(name, file string) string {
	return "refs/npm/" + name + "/-/" + file
}

// escapedName is how a name appears in a registry URL: the scope's slash
// encoded, as npm itself sends it.
func escapedName(name string) string {
	return strings.Replace(name, "/", "%2f", 1)
}
