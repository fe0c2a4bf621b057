// Package prefetch warms nora's cache from a list of images and packages
// (issue 16): it parses the list and fetches each item through nora's own
// handlers, as the real clients would, so that fills are shared with
// clients pulling the same thing and verified as theirs are.
package prefetch

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"nora/internal/fault"
)

// Formats of list items.
const (
	Docker = "docker"
	Npm    = "npm"
	PyPI   = "pypi"
	Maven  = "maven"
	Cargo  = "cargo"
)

// Limits of a list: it comes over the network (POST /api/v1/prefetch).
const (
	MaxItems    = 10000
	MaxLineLen  = 1024
	MaxListSize = 1 << 20
)

// Item is one line of a list.
type Item struct {
	Line   int    `json:"line"`
	Text   string `json:"item"` // the line as written, comment and blanks trimmed
	Format string `json:"format"`
	// Name is the image repository, the package or crate name, or
	// "group:artifact" for Maven.
	Name string `json:"-"`
	// Ref is the tag or digest of an image, the range or dist-tag of an
	// npm package ("" for latest), the version otherwise.
	Ref string `json:"-"`
}

var (
	imageNameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe       = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	npmNameRe   = regexp.MustCompile(`^(?:@[a-zA-Z0-9][a-zA-Z0-9._~-]*/)?[a-zA-Z0-9._~-]+$`)
	npmRangeRe  = regexp.MustCompile(`^[a-zA-Z0-9.^~<>=|*+ -]*$`)
	pypiNameRe  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	pypiVerRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.!+_-]*$`)
	mavenPartRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$`)
	mavenVerRe  = regexp.MustCompile(`^[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*$`)
	crateNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
	crateVerRe  = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]*)?$`)
)

// Parse reads a list: one item a line, "#" starts a comment, blank lines
// are ignored. A line's format is told by these rules, in order:
//
//  1. "docker:", "npm:", "pypi:", "maven:" or "cargo:" in front names it
//     (so an image named like a format, "docker:27", is "docker:docker:27");
//  2. "name==version" is PyPI;
//  3. "@scope/name[@range]" is npm;
//  4. "name@sha256:..." (a digest after "@") is an image;
//  5. "group:artifact:version" (two colons, no "/") is Maven;
//  6. "name@range" is npm (a crate needs "cargo:name@version");
//  7. anything else is an image: "name[:tag]", tag latest when none.
//
// All bad lines are reported at once, in an error of kind fault.Invalid.
func Parse(text string) ([]Item, error) {
	if len(text) > MaxListSize {
		return nil, fault.Newf(fault.TooLarge, "the list is larger than %d bytes", MaxListSize)
	}
	var items []Item
	var bad []string
	for i, line := range strings.Split(text, "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		it, err := parseLine(line)
		if err != nil {
			if len(bad) < 20 {
				bad = append(bad, fmt.Sprintf("line %d: %v", i+1, err))
			}
			continue
		}
		it.Line, it.Text = i+1, line
		if len(items) == MaxItems {
			return nil, fault.Newf(fault.TooLarge, "the list has more than %d items", MaxItems)
		}
		items = append(items, it)
	}
	if len(bad) > 0 {
		return nil, fault.New(fault.Invalid, strings.Join(bad, "; "))
	}
	if len(items) == 0 {
		return nil, fault.New(fault.Invalid, "the list has no items")
	}
	return items, nil
}

func parseLine(line string) (Item, error) {
	if len(line) > MaxLineLen {
		return Item{}, fmt.Errorf("longer than %d bytes", MaxLineLen)
	}
	if f, rest, ok := strings.Cut(line, ":"); ok {
		switch f {
		case Docker, Npm, PyPI, Maven, Cargo:
			return parseAs(f, strings.TrimSpace(rest))
		}
	}
	at := strings.IndexByte(line, '@')
	switch {
	case strings.Contains(line, "=="):
		return parseAs(PyPI, line)
	case strings.HasPrefix(line, "@"):
		return parseAs(Npm, line)
	case at > 0 && strings.Contains(line[at:], ":"):
		return parseAs(Docker, line)
	case !strings.Contains(line, "/") && strings.Count(line, ":") >= 2:
		return parseAs(Maven, line)
	case at > 0:
		return parseAs(Npm, line)
	}
	return parseAs(Docker, line)
}

func parseAs(format, s string) (Item, error) {
	switch format {
	case Docker:
		return parseImage(s)
	case Npm:
		return parseNpm(s)
	case PyPI:
		name, ver, ok := strings.Cut(s, "==")
		name, ver = strings.TrimSpace(name), strings.TrimSpace(ver)
		if !ok || !pypiNameRe.MatchString(name) || !pypiVerRe.MatchString(ver) {
			return Item{}, fmt.Errorf("%q: want a PyPI project and version, name==version", s)
		}
		return Item{Format: PyPI, Name: name, Ref: ver}, nil
	case Maven:
		p := strings.Split(s, ":")
		if len(p) != 3 || !mavenPartRe.MatchString(p[0]) || !mavenPartRe.MatchString(p[1]) || !mavenVerRe.MatchString(p[2]) {
			return Item{}, fmt.Errorf("%q: want Maven coordinates group:artifact:version", s)
		}
		return Item{Format: Maven, Name: p[0] + ":" + p[1], Ref: p[2]}, nil
	}
	name, ver, ok := strings.Cut(s, "@")
	if !ok || !crateNameRe.MatchString(name) || !crateVerRe.MatchString(ver) {
		return Item{}, fmt.Errorf("%q: want a crate and its version, cargo:name@version", s)
	}
	return Item{Format: Cargo, Name: name, Ref: ver}, nil
}

// parseImage reads "name[:tag][@digest]"; the digest wins over the tag.
func parseImage(s string) (Item, error) {
	name, ref := s, "latest"
	if n, d, ok := strings.Cut(s, "@"); ok {
		if _, err := digest.Parse(d); err != nil {
			return Item{}, fmt.Errorf("%q: invalid digest: %v", s, err)
		}
		name, ref = n, d
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		tag := name[i+1:]
		if !tagRe.MatchString(tag) {
			return Item{}, fmt.Errorf("%q: invalid tag %q", s, tag)
		}
		if ref == "latest" {
			ref = tag
		}
		name = name[:i]
	}
	if len(name) > 255 || !imageNameRe.MatchString(name) {
		return Item{}, fmt.Errorf("%q: invalid image name %q (lower case, as nora names it: the first part selects the upstream)", s, name)
	}
	return Item{Format: Docker, Name: name, Ref: ref}, nil
}

// parseNpm reads "name[@range]" and "@scope/name[@range]".
func parseNpm(s string) (Item, error) {
	name, rng := s, ""
	if i := strings.LastIndexByte(s, '@'); i > 0 {
		name, rng = s[:i], strings.TrimSpace(s[i+1:])
	}
	if len(name) > 214 || !npmNameRe.MatchString(name) {
		return Item{}, fmt.Errorf("%q: invalid npm package name %q", s, name)
	}
	if !npmRangeRe.MatchString(rng) {
		return Item{}, fmt.Errorf("%q: invalid version range %q", s, rng)
	}
	if rng != "" && !isTag(rng) {
		if _, err := parseRange(rng); err != nil {
			return Item{}, fmt.Errorf("%q: %v", s, err)
		}
	}
	return Item{Format: Npm, Name: name, Ref: rng}, nil
}

// isTag tells a dist-tag ("latest", "next") from a range: a tag is not a
// valid range and begins with a letter other than v.
func isTag(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' || s[0] == 'v' || s[0] == 'x' {
		return false
	}
	_, err := strconv.Atoi(s)
	return err != nil && tagRe.MatchString(s)
}
