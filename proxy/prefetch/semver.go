package prefetch

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a semver 2.0 version, as npm publishes them.
type version struct {
	num [3]uint64
	pre []string // pre-release identifiers; nil for a release
}

func parseVersion(s string) (version, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "="), "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var v version
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("invalid version %q", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v, fmt.Errorf("invalid version %q", s)
		}
		v.num[i] = n
	}
	if hasPre {
		if pre == "" {
			return v, fmt.Errorf("invalid version %q", s)
		}
		v.pre = strings.Split(pre, ".")
	}
	return v, nil
}

// compare orders versions by semver precedence.
func compare(a, b version) int {
	for i := range a.num {
		if a.num[i] != b.num[i] {
			if a.num[i] < b.num[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.pre == nil && b.pre == nil:
		return 0
	case a.pre == nil:
		return 1
	case b.pre == nil:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := comparePre(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	return len(a.pre) - len(b.pre)
}

func comparePre(a, b string) int {
	na, ea := strconv.ParseUint(a, 10, 64)
	nb, eb := strconv.ParseUint(b, 10, 64)
	switch {
	case ea == nil && eb == nil:
		if na == nb {
			return 0
		}
		if na < nb {
			return -1
		}
		return 1
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// comparator is one primitive condition: op is one of < <= > >= =.
type comparator struct {
	op string
	v  version
}

func (c comparator) holds(v version) bool {
	d := compare(v, c.v)
	switch c.op {
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	}
	return d == 0
}

// npmRange is a union of intersections of comparators: npm's ranges.
type npmRange [][]comparator

func (r npmRange) matches(v version) bool {
	for _, set := range r {
		if setMatches(set, v) {
			return true
		}
	}
	return false
}

// setMatches: all hold, and a pre-release matches only when a comparator
// of the set names a pre-release of the same major.minor.patch (npm).
func setMatches(set []comparator, v version) bool {
	preOK := v.pre == nil
	for _, c := range set {
		if !c.holds(v) {
			return false
		}
		if c.v.pre != nil && c.v.num == v.num {
			preOK = true
		}
	}
	return preOK
}

// parseRange parses an npm range: "1.2.3", "^1.2", "~1.2.3", ">=1 <2",
// "1.x", "*", "1.2.3 - 2.3", alternatives joined by "||".
func parseRange(s string) (npmRange, error) {
	var r npmRange
	for _, alt := range strings.Split(s, "||") {
		f := strings.Fields(alt)
		var set []comparator
		if len(f) == 3 && f[1] == "-" {
			lo, err := bound(">=", f[0])
			if err != nil {
				return nil, err
			}
			hi, err := bound("<=", f[2])
			if err != nil {
				return nil, err
			}
			r = append(r, append(lo, hi...))
			continue
		}
		for i := 0; i < len(f); i++ {
			tok := f[i]
			// ">= 1.2": the operator apart from its version
			if strings.Trim(tok, "<>=~^") == "" && i+1 < len(f) {
				i++
				tok += f[i]
			}
			op := tok[:len(tok)-len(strings.TrimLeft(tok, "<>=~^"))]
			cs, err := bound(op, tok[len(op):])
			if err != nil {
				return nil, err
			}
			set = append(set, cs...)
		}
		if len(set) == 0 {
			set = []comparator{{">=", version{}}}
		}
		r = append(r, set)
	}
	return r, nil
}

// partial is a version with missing or wildcard parts: n is how many
// parts are given.
type partial struct {
	version
	n int
}

func parsePartial(s string) (partial, error) {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	core, pre, hasPre := strings.Cut(s, "-")
	var p partial
	if s == "" {
		return p, nil
	}
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return p, fmt.Errorf("invalid version %q in range", s)
	}
	wild := false
	for i, x := range parts {
		if x == "x" || x == "X" || x == "*" {
			wild = true
			continue
		}
		if wild {
			return p, fmt.Errorf("invalid version %q in range", s)
		}
		n, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return p, fmt.Errorf("invalid version %q in range", s)
		}
		p.num[i], p.n = n, i+1
	}
	if hasPre {
		if p.n < 3 || pre == "" {
			return p, fmt.Errorf("invalid version %q in range", s)
		}
		p.pre = strings.Split(pre, ".")
	}
	return p, nil
}

// next is the lowest version above every one the partial covers:
// 1 -> 2.0.0-0, 1.2 -> 1.3.0-0 (the "-0" keeps pre-releases of it out).
func (p partial) next(level int) version {
	v := version{pre: []string{"0"}}
	copy(v.num[:], p.num[:level])
	v.num[level-1]++
	return v
}

// bound turns one comparator of a range into primitive ones.
func bound(op, s string) ([]comparator, error) {
	p, err := parsePartial(s)
	if err != nil {
		return nil, err
	}
	full := p.n == 3
	switch op {
	case "", "=":
		if full {
			return []comparator{{"=", p.version}}, nil
		}
		return p.span(p.n), nil
	case "^":
		lvl := 1 // the first non-zero part is fixed
		for lvl < p.n && p.num[lvl-1] == 0 {
			lvl++
		}
		if p.n == 0 {
			return p.span(0), nil
		}
		return []comparator{{">=", p.version}, {"<", p.next(lvl)}}, nil
	case "~", "~>":
		if p.n == 0 {
			return p.span(0), nil
		}
		return []comparator{{">=", p.version}, {"<", p.next(min(p.n, 2))}}, nil
	case ">":
		if full {
			return []comparator{{">", p.version}}, nil
		}
		if p.n == 0 {
			return []comparator{{"<", version{}}}, nil // nothing
		}
		return []comparator{{">=", p.next(p.n)}}, nil
	case ">=":
		return []comparator{{">=", p.version}}, nil
	case "<":
		if full {
			return []comparator{{"<", p.version}}, nil
		}
		return []comparator{{"<", version{num: p.num, pre: []string{"0"}}}}, nil
	case "<=":
		if full || p.n == 0 {
			if p.n == 0 {
				return []comparator{{">=", version{}}}, nil
			}
			return []comparator{{"<=", p.version}}, nil
		}
		return []comparator{{"<", p.next(p.n)}}, nil
	}
	return nil, fmt.Errorf("invalid operator %q in range", op)
}

// span is every version the partial covers: 1.2 -> >=1.2.0 <1.3.0-0.
func (p partial) span(n int) []comparator {
	if n == 0 {
		return []comparator{{">=", version{}}}
	}
	return []comparator{{">=", p.version}, {"<", p.next(n)}}
}

// highest is the highest of versions that r matches; false if none.
func highest(r npmRange, versions []string) (string, bool) {
	var best version
	bestS, found := "", false
	for _, s := range versions {
		v, err := parseVersion(s)
		if err != nil || !r.matches(v) {
			continue
		}
		if !found || compare(v, best) > 0 {
			best, bestS, found = v, s, true
		}
	}
	return bestS, found
}
