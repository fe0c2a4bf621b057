package maven

import (
	"strconv"
	"strings"
)

// Coord names one file of one version of an artifact, as a repository lays
// it out: <Group>/<Artifact>/<Version>/<File>.
type Coord struct {
	Group    string // the groupId as a path: "com/acme"
	Artifact string
	Version  string
	File     string // "lib-1.0.jar", "lib-1.0-20240102.030405-3-sources.jar"
}

// Dir is the artifact's directory, the unit that is hosted or not.
func (c Coord) Dir() string { return c.Group + "/" + c.Artifact }

// Path is the file's repository path.
func (c Coord) Path() string { return c.Dir() + "/" + c.Version + "/" + c.File }

// Name is the artifact's coordinate, "com.acme:lib", as permissions and
// logs name it.
func (c Coord) Name() string { return GroupID(c.Group) + ":" + c.Artifact }

// GroupID turns a group path into a groupId: "com/acme" -> "com.acme".
func GroupID(groupPath string) string { return strings.ReplaceAll(groupPath, "/", ".") }

// DirName is the coordinate a metadata directory stands for when read as
// an artifact's directory: "com/acme/lib" -> "com.acme:lib".
func DirName(dir string) string {
	i := strings.LastIndexByte(dir, '/')
	if i < 0 {
		return dir
	}
	return GroupID(dir[:i]) + ":" + dir[i+1:]
}

// IsSnapshot reports whether v is a SNAPSHOT version.
func IsSnapshot(v string) bool { return strings.HasSuffix(v, "SNAPSHOT") }

// MaxPathLen bounds a repository path: it keeps every store key derived
// from one (hosted state, the proxy's refs) under cache.CheckKey's 1024.
const MaxPathLen = 768

// ValidSegment reports whether s can be one element of a repository path:
// what a Maven layout produces, and nothing that could escape a store key
// ("..", "/", "\", NUL, "%", "@" are all refused).
func ValidSegment(s string) bool {
	if s == "" || len(s) > 255 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '-' || c == '~' || c == '+':
		default:
			return false
		}
	}
	return true
}

// validDir checks a directory path of valid segments.
func validDir(dir string) bool {
	if dir == "" || len(dir) > MaxPathLen {
		return false
	}
	for seg := range strings.SplitSeq(dir, "/") {
		if !ValidSegment(seg) {
			return false
		}
	}
	return true
}

// check refuses a Coord that is not a hosted-able file: segments a layout
// cannot produce, a file not named after its artifact and version, and a
// SNAPSHOT file without a timestamp (Maven 3 and Gradle always deploy
// timestamped "unique" snapshots; a non-unique name would be a mutable
// file, which hosted state does not keep).
func (c Coord) check() error {
	if !validDir(c.Group) || !ValidSegment(c.Artifact) || !ValidSegment(c.Version) || !ValidSegment(c.File) ||
		len(c.Path()) > MaxPathLen {
		return invalidf("%q", c.Path())
	}
	switch mutable, ok := ClassifyFile(c.Artifact, c.Version, c.File); {
	case mutable:
		return invalidf("%s has no timestamp; deploy timestamped (unique) snapshots", c.File)
	case !ok:
		return invalidf("%s is not a file of %s %s", c.File, c.Artifact, c.Version)
	}
	return nil
}

// ClassifyFile reports whether file can be a file of artifact a at version
// v in a repository layout (ok), and whether it is mutable: a non-unique
// SNAPSHOT name ("a-1.0-SNAPSHOT.jar"), which every deploy of the SNAPSHOT
// replaces. Release files and timestamped SNAPSHOT builds never change.
func ClassifyFile(a, v, file string) (mutable, ok bool) {
	if !IsSnapshot(v) {
		tail, ok := strings.CutPrefix(file, a+"-"+v)
		return false, ok && validTail(tail)
	}
	if _, ok := parseBuild(a, v, file); ok {
		return false, true
	}
	_, ok = nonUniqueTail(a, v, file)
	return ok, ok
}

// validTail checks what follows artifactId-version in a file name: an
// optional "-classifier", then ".extension" (which may hold dots, as in
// "tar.gz", but not end in one).
func validTail(t string) bool {
	if t == "" || (t[0] != '.' && t[0] != '-') || t[len(t)-1] == '.' {
		return false
	}
	dot := strings.IndexByte(t, '.')
	return dot >= 0 && t[:dot] != "-"
}

// build is one timestamped SNAPSHOT file name taken apart.
type build struct {
	Timestamp string // "20240102.030405"
	Number    int
	Tail      string // "-sources.jar", ".pom"
}

// value is what metadata calls the build's version: "1.0-20240102.030405-3".
func (b build) value(version string) string {
	return strings.TrimSuffix(version, "SNAPSHOT") + b.Timestamp + "-" + strconv.Itoa(b.Number)
}

// later orders builds by build number, then timestamp.
func (b build) later(o build) bool {
	if b.Number != o.Number {
		return b.Number > o.Number
	}
	return b.Timestamp > o.Timestamp
}

// parseBuild takes apart a timestamped file name of artifact a at SNAPSHOT
// version v: "a-1.0-20240102.030405-3-sources.jar".
func parseBuild(a, v, name string) (build, bool) {
	stem := strings.TrimSuffix(v, "SNAPSHOT")
	rest, ok := strings.CutPrefix(name, a+"-"+stem)
	if !ok || len(rest) < 17 {
		return build{}, false
	}
	if !digits(rest[:8]) || rest[8] != '.' || !digits(rest[9:15]) || rest[15] != '-' {
		return build{}, false
	}
	ts, rest := rest[:15], rest[16:]
	n := 0
	for n < len(rest) && n < 9 && '0' <= rest[n] && rest[n] <= '9' {
		n++
	}
	if n == 0 || !validTail(rest[n:]) {
		return build{}, false
	}
	num, _ := strconv.Atoi(rest[:n])
	return build{Timestamp: ts, Number: num, Tail: rest[n:]}, true
}

// nonUniqueTail is the tail of a non-unique SNAPSHOT file name,
// "a-1.0-SNAPSHOT-sources.jar" -> "-sources.jar".
func nonUniqueTail(a, v, name string) (string, bool) {
	tail, ok := strings.CutPrefix(name, a+"-"+v)
	return tail, ok && IsSnapshot(v) && validTail(tail)
}

// splitTail splits a file name's tail into classifier and extension:
// "-sources.jar" -> "sources", "jar"; ".tar.gz" -> "", "tar.gz".
func splitTail(t string) (classifier, extension string) {
	dot := strings.IndexByte(t, '.')
	if t[0] == '-' {
		classifier = t[1:dot]
	}
	return classifier, t[dot+1:]
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
