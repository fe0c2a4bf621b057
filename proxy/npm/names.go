package npm

import (
	"net/url"
	"strings"

	hosted "nora/hosted/npm"
	"nora/internal/fault"
)

// kind is what a request under /npm/ asks for.
type kind int

const (
	kindPackument  kind = iota + 1 // GET /npm/<name>; PUT publishes, deprecates
	kindTarball                    // GET /npm/<name>/-/<file>.tgz
	kindPing                       // GET /npm/-/ping
	kindAudit                      // POST /npm/-/npm/v1/security/...
	kindWhoami                     // GET /npm/-/whoami
	kindLogin                      // npm login: POST /npm/-/v1/login, PUT /npm/-/user/org.couchdb.user:<name>
	kindDistTags                   // GET /npm/-/package/<name>/dist-tags[/<tag>]; PUT, DELETE with a tag
	kindRev                        // PUT, DELETE /npm/<name>/-rev/<rev> (npm unpublish)
	kindTarballRev                 // DELETE /npm/<name>/-/<file>/-rev/<rev> (npm unpublish)
)

// request is a parsed, validated request path. name and file are safe to
// use in cache keys and upstream URLs.
type request struct {
	kind kind
	name string // "lodash", "@acme/dep"
	file string // tarball file name, "dep-1.0.0.tgz"
	api  string // registry API path for kindAudit, relative to the upstream base
	tag  string // kindDistTags: the tag, "" for the list
	rev  string // kindRev, kindTarballRev: the package revision the client read
}

// Refusals of a path, answered with their kind's status and message.
var (
	errUnknownPath = fault.New(fault.NotFound, "not found")
	errInvalidName = fault.New(fault.Invalid, "invalid package name")
	errInvalidFile = fault.New(fault.Invalid, "invalid tarball file name")
	errInvalidRev  = fault.New(fault.Invalid, "invalid revision")
	errInvalidTag  = fault.New(fault.Invalid, "invalid dist-tag")
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
		case api == "whoami":
			return request{kind: kindWhoami}, nil
		case api == "v1/login" || strings.HasPrefix(api, "user/org.couchdb.user:"):
			return request{kind: kindLogin}, nil
		case strings.HasPrefix(api, "package/"):
			return parseDistTags(strings.TrimPrefix(api, "package/"))
		case auditPaths[rest]:
			return request{kind: kindAudit, api: rest}, nil
		}
		return request{}, errUnknownPath
	}
	segs := strings.Split(rest, "/")
	nameLen := nameSegments(rest)
	var r request
	switch {
	case len(segs) == nameLen:
		r.kind = kindPackument
	case len(segs) == nameLen+2 && segs[nameLen] == "-":
		r.kind, r.file = kindTarball, segs[nameLen+1]
	case len(segs) == nameLen+2 && segs[nameLen] == "-rev":
		r.kind, r.rev = kindRev, segs[nameLen+1]
	case len(segs) == nameLen+4 && segs[nameLen] == "-" && segs[nameLen+2] == "-rev":
		r.kind, r.file, r.rev = kindTarballRev, segs[nameLen+1], segs[nameLen+3]
	default:
		return request{}, errUnknownPath
	}
	r.name = strings.Join(segs[:nameLen], "/")
	switch {
	case !hosted.ValidName(r.name):
		return request{}, errInvalidName
	case (r.kind == kindTarball || r.kind == kindTarballRev) && !validFile(r.file):
		return request{}, errInvalidFile
	case (r.kind == kindRev || r.kind == kindTarballRev) && !validRev(r.rev):
		return request{}, errInvalidRev
	}
	return r, nil
}

// nameSegments is how many path segments the name at the start of p
// takes: two for a scoped name.
func nameSegments(p string) int {
	if strings.HasPrefix(p, "@") {
		return 2
	}
	return 1
}

// parseDistTags parses what follows /npm/-/package/: "<name>/dist-tags"
// or "<name>/dist-tags/<tag>" (npm escapes the scope's slash; unescaped, a
// scoped name is two segments).
func parseDistTags(p string) (request, error) {
	segs := strings.Split(p, "/")
	n := nameSegments(p)
	r := request{kind: kindDistTags}
	switch {
	case len(segs) == n+1 && segs[n] == "dist-tags":
	case len(segs) == n+2 && segs[n] == "dist-tags":
		r.tag = segs[n+1]
	default:
		return request{}, errUnknownPath
	}
	r.name = strings.Join(segs[:n], "/")
	switch {
	case !hosted.ValidName(r.name):
		return request{}, errInvalidName
	case len(segs) == n+2 && !validTagChars(r.tag):
		return request{}, errInvalidTag
	}
	return r, nil
}

// validRev reports whether rev looks like a revision nora hands out
// ("3-0123abcd...").
func validRev(rev string) bool {
	if rev == "" || len(rev) > 64 {
		return false
	}
	for i := 0; i < len(rev); i++ {
		if c := rev[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// validTagChars bounds a tag in a path; hosted state decides which tags
// may be set.
func validTagChars(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !hosted.NameChar(t[i]) {
			return false
		}
	}
	return true
}

// validFile reports whether f is a tarball file name we serve:
// "<something>.tgz" of safe characters, no leading dot.
func validFile(f string) bool {
	if len(f) <= len(".tgz") || len(f) > 255 || f[0] == '.' || !strings.HasSuffix(f, ".tgz") {
		return false
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; !hosted.NameChar(c) && c != '+' {
			return false
		}
	}
	return true
}

// escapedName is how a name appears in a registry URL: the scope's slash
// encoded, as npm itself sends it.
func escapedName(name string) string {
	return strings.Replace(name, "/", "%2f", 1)
}
