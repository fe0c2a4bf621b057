package docker

import (
	"errors"
	"strings"

	"github.com/opencontainers/go-digest"

	"nora/internal/fault"
)

const maxNameLen = 255

// request is one parsed /v2/ API call.
type request struct {
	name string // as the client sent it
	kind string // "manifests", "blobs", "uploads", "tags", "referrers"
	ref  string // tag or digest; upload session id ("" to start one); "" for tags
}

var errBadPath = errors.New("not a registry API path")

// parsePath splits "/v2/<name>/(manifests/<ref>|blobs/<digest>|tags/list|
// blobs/uploads/[<id>]|referrers/<digest>)". The name may itself contain
// "manifests" or "blobs" segments, so the last occurrence decides.
func parsePath(path string) (request, error) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return request{}, errBadPath
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return request{name: name, kind: "tags"}, nil
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads"); ok {
		return request{name: name, kind: "uploads"}, nil
	}
	if i := strings.LastIndex(rest, "/blobs/uploads/"); i > 0 {
		if id := rest[i+len("/blobs/uploads/"):]; !strings.Contains(id, "/") {
			return request{name: rest[:i], kind: "uploads", ref: id}, nil
		}
	}
	for _, kind := range []string{"manifests", "blobs", "referrers"} {
		if i := strings.LastIndex(rest, "/"+kind+"/"); i > 0 {
			ref := rest[i+len(kind)+2:]
			if ref == "" || strings.Contains(ref, "/") {
				continue
			}
			return request{name: rest[:i], kind: kind, ref: ref}, nil
		}
	}
	return request{}, errBadPath
}

// The distribution-spec grammar, matched by hand on every request (a
// regular expression cost more than the rest of a route's parsing; the
// expressions are the oracle of names_grammar_test.go): a name is
// components joined by "/", each [a-z0-9]+ runs joined by ".", "_", "__"
// or any number of "-"; a tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func validName(name string) bool {
	if len(name) > maxNameLen {
		return false
	}
	for comp := range strings.SplitSeq(name, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

func validComponent(c string) bool {
	i := 0
	for {
		start := i
		for i < len(c) && (c[i] >= 'a' && c[i] <= 'z' || c[i] >= '0' && c[i] <= '9') {
			i++
		}
		switch {
		case i == start:
			return false
		case i == len(c):
			return true
		case c[i] == '.':
			i++
		case c[i] == '_':
			i++
			if i < len(c) && c[i] == '_' {
				i++
			}
		case c[i] == '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

func validTag(tag string) bool {
	if len(tag) == 0 || len(tag) > 128 || tag[0] == '.' || tag[0] == '-' {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// sha256Digest reports whether s is a well-formed sha256 digest, the
// common case, checked without go-digest's regular expression.
func sha256Digest(s string) bool {
	hexPart, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	for i := 0; i < len(hexPart); i++ {
		if c := hexPart[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validDigest is d.Validate() == nil.
func validDigest(d digest.Digest) bool { return sha256Digest(string(d)) || d.Validate() == nil }

// parseDigest accepts only well-formed digests of algorithms we can verify.
func parseDigest(s string) (digest.Digest, error) {
	if sha256Digest(s) {
		return digest.Digest(s), nil
	}
	d, err := digest.Parse(s)
	if err != nil {
		return "", err
	}
	if !d.Algorithm().Available() {
		return "", digest.ErrDigestUnsupported
	}
	return d, nil
}

// route is where a repository name leads: an upstream and the repository
// name there.
type route struct {
	up   *upstreamRepo
	repo string // upstream-side name, "library/nginx"
}

// resolve maps a client-side name to an upstream (DESIGN 2.3): ?ns= picks an
// upstream by name; else a first path element naming an upstream; else the
// default upstream. docker.io names without a slash get "library/", so
// "nginx" and "library/nginx" are one cache entry.
//
// A first path element that names a registry host ("quay.io/org/img", as
// podman and CRI-O mirrors send it) but no upstream is refused the way an
// unknown ?ns= is, rather than asked of the default upstream under a name
// nobody meant. Docker Hub has no such names: clients read a first element
// with a dot or a colon, or "localhost", as a host.
func (h *Handler) resolve(name, ns string) (route, error) {
	var up *upstreamRepo
	repo := name
	first, rest, nested := strings.Cut(name, "/")
	switch {
	case ns != "":
		if up = h.byName[ns]; up == nil {
			return route{}, noUpstream(ns)
		}
	case nested && h.byName[first] != nil:
		up, repo = h.byName[first], rest
	case nested && hostLike(first):
		return route{}, noUpstream(first)
	case len(h.upstreams) > 0:
		up = h.upstreams[0]
	default:
		return route{}, fault.New(fault.NotFound, "no upstream is configured ([[docker.upstreams]])")
	}
	if up.cfg.Name == "docker.io" && !strings.Contains(repo, "/") {
		repo = "library/" + repo
	}
	return route{up: up, repo: repo}, nil
}

// hostLike reports whether a first path element names a registry host, as
// docker's reference grammar reads it.
func hostLike(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// noUpstream refuses a registry that no [[docker.upstreams]] entry stands
// for: 404 NAME_UNKNOWN, never a guess at some other upstream.
func noUpstream(registry string) error {
	if len(registry) > 64 {
		registry = registry[:64] + "..."
	}
	return fault.Newf(fault.NotFound, "no upstream is configured for registry %q: add a [[docker.upstreams]] entry with name = %q", registry, registry)
}
