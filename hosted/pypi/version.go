package pypi

import (
	"regexp"
	"strings"
)

// versionRE is PEP 440's permissive version syntax (its appendix B), which
// every normal form and the spellings tools accept ("1.0-alpha.1", "v2",
// "1.0-1") match.
var versionRE = regexp.MustCompile(`^(?i)v?` +
	`(?:([0-9]+)!)?` + // epoch
	`([0-9]+(?:\.[0-9]+)*)` + // release
	`(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?([0-9]+)?)?` + // pre
	`(?:-([0-9]+)|[-_.]?(post|rev|r)[-_.]?([0-9]+)?)?` + // post
	`(?:[-_.]?(dev)[-_.]?([0-9]+)?)?` + // dev
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`) // local

// maxVersionLen bounds what is parsed; real versions are short.
const maxVersionLen = 128

// NormalizeVersion returns version in PEP 440's normal form ("1.0.0",
// "2.0rc1", "1.0.post1+local.7"), keeping the release's trailing zeros.
func NormalizeVersion(version string) (string, bool) {
	return formatVersion(version, false)
}

// versionKey is the canonical form two spellings of one version share:
// the normal form without the release's trailing zeros, so "1.0", "1.0.0"
// and "v1" are one version (packaging's canonicalize_version).
func versionKey(version string) (string, bool) {
	return formatVersion(version, true)
}

func formatVersion(version string, stripZeros bool) (string, bool) {
	version = strings.TrimSpace(version)
	if len(version) > maxVersionLen {
		return "", false
	}
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return "", false
	}
	epoch, release, preL, preN, postN1, postL, postN2, devL, devN, local := m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10]
	var b strings.Builder
	if epoch != "" && trimZeros(epoch) != "0" {
		b.WriteString(trimZeros(epoch))
		b.WriteByte('!')
	}
	parts := strings.Split(release, ".")
	for i := range parts {
		parts[i] = trimZeros(parts[i])
	}
	if stripZeros {
		for len(parts) > 1 && parts[len(parts)-1] == "0" {
			parts = parts[:len(parts)-1]
		}
	}
	b.WriteString(strings.Join(parts, "."))
	if preL != "" {
		switch strings.ToLower(preL) {
		case "alpha", "a":
			b.WriteString("a")
		case "beta", "b":
			b.WriteString("b")
		default: // c, rc, pre, preview
			b.WriteString("rc")
		}
		b.WriteString(trimZeros(preN))
	}
	if postN1 != "" {
		b.WriteString(".post" + trimZeros(postN1))
	} else if postL != "" {
		b.WriteString(".post" + trimZeros(postN2))
	}
	if devL != "" {
		b.WriteString(".dev" + trimZeros(devN))
	}
	if local != "" {
		segs := strings.FieldsFunc(strings.ToLower(local), func(r rune) bool { return r == '-' || r == '_' || r == '.' })
		for i, s := range segs {
			if isNumeric(s) {
				segs[i] = trimZeros(s)
			}
		}
		b.WriteString("+" + strings.Join(segs, "."))
	}
	return b.String(), true
}

// trimZeros writes a decimal number without leading zeros ("" is 0).
// Numbers stay strings: a release segment may exceed any integer type.
func trimZeros(n string) string {
	n = strings.TrimLeft(n, "0")
	if n == "" {
		return "0"
	}
	return n
}

func isNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
