package replicate

import (
	"path"
	"strings"

	"nora/internal/fault"
)

// glob is one --match pattern split into its name and version parts.
type glob struct {
	name, version string // version "": every version
	sep           byte   // ':' (an image's tag), '@' (a package's version) or 0
}

// forFormat keeps the globs that apply to format: a tag (":") is an
// image's, a version ("@") a package's; a glob with neither applies to all.
func forFormat(gs []glob, format string) []glob {
	var out []glob
	for _, g := range gs {
		if g.sep == 0 || (g.sep == ':') == (format == "docker") {
			out = append(out, g)
		}
	}
	return out
}

// parseGlobs splits each pattern at the tag (":") or version ("@") that
// follows the last "/" of the name; a leading "@" (an npm scope) belongs
// to the name.
func parseGlobs(patterns []string) ([]glob, error) {
	if len(patterns) == 0 {
		return nil, fault.New(fault.Invalid, "replicate: no --match pattern")
	}
	gs := make([]glob, 0, len(patterns))
	for _, p := range patterns {
		g := splitGlob(p)
		if g.name == "" {
			return nil, fault.Newf(fault.Invalid, "replicate: match %q names nothing", p)
		}
		for _, part := range []string{g.name, g.version} {
			if _, err := path.Match(part, ""); err != nil {
				return nil, fault.Newf(fault.Invalid, "replicate: match %q: bad pattern", p)
			}
		}
		gs = append(gs, g)
	}
	return gs, nil
}

// splitGlob splits p at its version ("@", the last one after the last
// "/": a Maven name "group:artifact" keeps its colon) or else at its tag
// (the first ":" after the last "/").
func splitGlob(p string) glob {
	from := strings.LastIndex(p, "/") + 1
	if from == 0 && strings.HasPrefix(p, "@") {
		from = 1
	}
	if i := strings.LastIndex(p[from:], "@"); i >= 0 {
		return glob{name: p[:from+i], version: p[from+i+1:], sep: '@'}
	}
	if i := strings.IndexByte(p[from:], ':'); i >= 0 {
		return glob{name: p[:from+i], version: p[from+i+1:], sep: ':'}
	}
	return glob{name: p}
}

// matcher is what a Mover's List is given: does name (at version) match
// any of the patterns. path.Match keeps "*" within one "/" segment.
func matcher(gs []glob) func(name, version string) bool {
	return func(name, version string) bool {
		for _, g := range gs {
			if ok, _ := path.Match(g.name, name); !ok {
				continue
			}
			if g.version == "" {
				return true
			}
			if ok, _ := path.Match(g.version, version); ok {
				return true
			}
		}
		return false
	}
}

// literalNames returns the name parts of gs when none holds a pattern
// character (the repositories a registry without a catalog is asked
// for), or nil.
func literalNames(gs []glob) []string {
	var names []string
	for _, g := range gs {
		if strings.ContainsAny(g.name, `*?[\`) {
			return nil
		}
		names = append(names, g.name)
	}
	return names
}
