package pypi

import "strings"

// maxNameLen bounds project names; PyPI's longest are well under it.
const maxNameLen = 200

// ValidName reports whether name is a project name as PEP 508 allows:
// ASCII letters and digits, with ".", "_" and "-" inside.
func ValidName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isAlnum(c):
		case c == '.' || c == '_' || c == '-':
			if i == 0 || i == len(name)-1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// NormalizeName is PEP 503's name normalization: lower case, every run of
// "-", "_" and "." one "-". name must be valid.
func NormalizeName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Filetypes of the legacy upload API that nora accepts. Eggs, wininst
// installers and the rest are refused, as PyPI refuses them.
const (
	Wheel = "bdist_wheel"
	Sdist = "sdist"
)

// checkFilename verifies that filename is a distribution of project
// (normalized) at version and returns its filetype. Wheels are
// "{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl" (binary
// distribution format); sdists "{name}-{version}.tar.gz" or ".zip", where
// older setuptools leave dashes in the name ("acme-lib-1.0.tar.gz"), so
// every split point is tried.
func checkFilename(filename, project, version string) (string, error) {
	key, ok := versionKey(version)
	if !ok {
		return "", invalid("%q is not a PEP 440 version", version)
	}
	if !ValidFilename(filename) || strings.HasSuffix(filename, ".metadata") {
		return "", invalid("invalid file name %q", filename)
	}
	belongs := func(name, ver string) bool {
		k, ok := versionKey(ver)
		return ValidName(name) && NormalizeName(name) == project && ok && k == key
	}
	if stem, ok := strings.CutSuffix(filename, ".whl"); ok {
		parts := strings.Split(stem, "-")
		if len(parts) != 5 && len(parts) != 6 {
			return "", invalid("%q is not a wheel file name", filename)
		}
		for _, p := range parts {
			if p == "" {
				return "", invalid("%q is not a wheel file name", filename)
			}
		}
		if len(parts) == 6 && !isDigit(parts[2][0]) {
			return "", invalid("the build tag of %q must start with a digit", filename)
		}
		if !belongs(parts[0], parts[1]) {
			return "", invalid("%s is not a wheel of %s %s", filename, project, version)
		}
		return Wheel, nil
	}
	stem, ok := strings.CutSuffix(filename, ".tar.gz")
	if !ok {
		if stem, ok = strings.CutSuffix(filename, ".zip"); !ok {
			return "", invalid("%s is neither a wheel (.whl) nor an sdist (.tar.gz, .zip)", filename)
		}
	}
	for i := range len(stem) {
		if stem[i] == '-' && belongs(stem[:i], stem[i+1:]) {
			return Sdist, nil
		}
	}
	return "", invalid("%s is not an sdist of %s %s", filename, project, version)
}

// maxFilenameLen is the usual file system limit for one name.
const maxFilenameLen = 255

// ValidFilename reports whether name can be a distribution file (or, with
// ".metadata" appended, its core metadata) served under /simple/<project>/
// and kept in a store key: printable ASCII without path separators or URL
// delimiters, not starting with a dot. proxy/pypi serves only such names.
func ValidFilename(name string) bool {
	if name == "" || len(name) > maxFilenameLen || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`/\"<>?#%`, c) >= 0 {
			return false
		}
	}
	return true
}
