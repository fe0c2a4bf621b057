package maven

import (
	"errors"
	"strings"

	hosted "nora/hosted/maven"
)

// kind says how a repository file may be cached.
type kind int

const (
	// kindArtifact is immutable: a release file, or a timestamped
	// ("unique") SNAPSHOT file, which Maven never redeploys under the same
	// name. Streamed, verified against the upstream .sha1, stored by sha256.
	kindArtifact kind = iota + 1
	// kindDoc is mutable: maven-metadata.xml at any level, and non-unique
	// SNAPSHOT files (a-1.0-SNAPSHOT.jar). Small documents with a TTL.
	kindDoc
)

// request is a parsed repository path.
type request struct {
	file string // the file served, or whose checksum is asked: "g/a/1.0/a-1.0.jar"
	sum  string // "" or the checksum algorithm asked for file ("sha1", "md5", "sha256", "sha512")
	kind kind
	name string // for the access log: "group:artifact", or metadata's directory
}

// path is the repository path of what was asked.
func (r request) path() string {
	if r.sum == "" {
		return r.file
	}
	return r.file + "." + r.sum
}

const (
	maxSegments  = 64
	metadataName = "maven-metadata.xml"
)

// sumHexLen is the hex length of each checksum algorithm a repository
// publishes next to its files.
var sumHexLen = map[string]int{"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}

var errInvalidPath = errors.New("invalid maven repository path")

// parsePath parses a repository path (what follows /maven2/): groupId
// segments / artifactId / version / file, or <dir>/maven-metadata.xml, each
// optionally with a checksum extension. It refuses anything a Maven layout
// cannot produce: empty, dot-led or over-long segments, characters outside
// [A-Za-z0-9._~+-] (so no "..", backslash, NUL, "%" or "@"), and files whose
// name does not start with artifactId-version.
func parsePath(s string) (request, error) {
	if s == "" || len(s) > hosted.MaxPathLen {
		return request{}, errInvalidPath
	}
	segs := strings.Split(s, "/")
	if len(segs) > maxSegments {
		return request{}, errInvalidPath
	}
	for _, seg := range segs {
		if !hosted.ValidSegment(seg) {
			return request{}, errInvalidPath
		}
	}
	n := len(segs)
	base, sum, ok := splitSum(segs[n-1])
	if !ok || base == "" || base[0] == '.' {
		return request{}, errInvalidPath
	}
	if base == metadataName {
		if n < 2 {
			return request{}, errInvalidPath
		}
		return request{file: strings.Join(append(segs[:n-1:n-1], base), "/"), sum: sum, kind: kindDoc, name: strings.Join(segs[:n-1], "/")}, nil
	}
	if n < 4 {
		return request{}, errInvalidPath
	}
	a, v := segs[n-3], segs[n-2]
	k, ok := fileKind(a, v, base)
	if !ok {
		return request{}, errInvalidPath
	}
	file := strings.Join(append(segs[:n-1:n-1], base), "/")
	return request{file: file, sum: sum, kind: k, name: strings.Join(segs[:n-3], ".") + ":" + a}, nil
}

// splitSum splits "x.jar.sha1" into "x.jar" and "sha1". A checksum of a
// checksum is no file repositories publish: not ok.
func splitSum(name string) (base, sum string, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return name, "", true
	}
	if _, isSum := sumHexLen[name[i+1:]]; !isSum {
		return name, "", true
	}
	if _, nested := sumHexLen[name[strings.LastIndexByte(name[:i], '.')+1:i]]; nested {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// fileKind checks that file belongs to artifact a at version v and says
// whether it is immutable (the layout rule hosted state deploys by).
func fileKind(a, v, file string) (kind, bool) {
	mutable, ok := hosted.ClassifyFile(a, v, file)
	if mutable {
		return kindDoc, ok
	}
	return kindArtifact, ok
}

// parseChecksum reads a repository checksum file: its first non-empty line
// holds the hex digest alone, "hex  filename", "hex *filename", or in
// OpenSSL's "SHA1(filename)= hex" form. The digest comes back lower case.
func parseChecksum(body []byte, alg string) (string, error) {
	want, ok := sumHexLen[alg]
	if !ok {
		return "", errors.New("unknown checksum algorithm")
	}
	var line string
	for l := range strings.SplitSeq(string(body), "\n") {
		if line = strings.TrimSpace(l); line != "" {
			break
		}
	}
	if i := strings.LastIndex(line, "= "); i >= 0 {
		line = strings.TrimSpace(line[i+2:])
	} else if f := strings.Fields(line); len(f) > 0 {
		line = f[0]
	}
	if len(line) != want {
		return "", errors.New("checksum file holds no " + alg + " digest")
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", errors.New("checksum file holds no " + alg + " digest")
		}
	}
	return strings.ToLower(line), nil
}
