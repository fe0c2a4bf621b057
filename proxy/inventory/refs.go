package inventory

import (
	"strings"

	hostedmaven "nora/hosted/maven"
	hostedpypi "nora/hosted/pypi"
)

// Where the proxied side of each package format keeps the refs of the
// files it cached (proxy/<format>/keys.go).
var fileRefs = map[string]string{
	"npm":   "refs/npm/",
	"pypi":  "refs/pypi/",
	"maven": "refs/maven/files/",
	"cargo": "refs/cargo/crates/",
}

// namePrefix is where the file refs of package name of format are.
func namePrefix(format, name string) string {
	p := fileRefs[format]
	switch format {
	case "npm":
		return p + name + "/-/"
	case "pypi":
		return p + hostedpypi.NormalizeName(name) + "/_files/"
	case "maven":
		g, a, ok := strings.Cut(name, ":")
		if !ok {
			return p + name + "/"
		}
		return p + strings.ReplaceAll(g, ".", "/") + "/" + a + "/"
	case "docker":
		return dockerRefs + name + tagsElem
	}
	return p + name + "/"
}

// fileRef splits the key of a proxied file ref of format into the
// package's name, the version and the file; not ok for refs that are not
// files (packuments, index pages, checksums).
func fileRef(format, key string) (name, version, file string, ok bool) {
	rest, ok := strings.CutPrefix(key, fileRefs[format])
	if !ok {
		return "", "", "", false
	}
	switch format {
	case "npm":
		name, file, ok = strings.Cut(rest, "/-/")
		base := name[strings.LastIndexByte(name, '/')+1:]
		version = strings.TrimSuffix(strings.TrimPrefix(file, base+"-"), ".tgz")
	case "pypi":
		name, file, ok = strings.Cut(rest, "/_files/")
		version = pypiVersion(file)
	case "maven":
		rest, ok = strings.CutSuffix(rest, "/@")
		parts := strings.Split(rest, "/")
		if n := len(parts); ok && n >= 4 {
			name = hostedmaven.DirName(strings.Join(parts[:n-2], "/"))
			version, file = parts[n-2], parts[n-1]
			_, ok = hostedmaven.ClassifyFile(parts[n-3], version, file)
		} else {
			ok = false
		}
	case "cargo":
		name, version, ok = strings.Cut(rest, "/")
		file = name + "-" + version + ".crate"
	default:
		ok = false
	}
	if !ok || name == "" || file == "" {
		return "", "", "", false
	}
	return name, version, file, true
}

// pypiVersion is the version in a distribution's file name: the second
// field of a wheel's, the last of an sdist's.
func pypiVersion(file string) string {
	if stem, ok := strings.CutSuffix(file, ".whl"); ok {
		if f := strings.Split(stem, "-"); len(f) >= 2 {
			return f[1]
		}
		return ""
	}
	for _, ext := range []string{".tar.gz", ".zip", ".tar.bz2", ".tgz"} {
		if stem, ok := strings.CutSuffix(file, ext); ok {
			return stem[strings.LastIndexByte(stem, '-')+1:]
		}
	}
	return ""
}
