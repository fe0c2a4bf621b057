package pypi

import (
	"strconv"
	"strings"
)

// format is a representation of a simple index page.
type format int

const (
	formatHTML   format = iota // text/html (PEP 503), the default
	formatHTMLv1               // application/vnd.pypi.simple.v1+html (PEP 691)
	formatJSON                 // application/vnd.pypi.simple.v1+json (PEP 691)
	numFormats
)

const (
	typeHTML   = "text/html"
	typeHTMLv1 = "application/vnd.pypi.simple.v1+html"
	typeJSON   = "application/vnd.pypi.simple.v1+json"
)

var contentTypes = [numFormats]string{typeHTML + "; charset=utf-8", typeHTMLv1, typeJSON}

// maxAcceptRanges bounds the work one Accept header can cause.
const maxAcceptRanges = 32

// negotiate picks the representation for an Accept header (RFC 9110 12.5.1,
// PEP 691): the highest q wins; a candidate takes the q of the most specific
// range that matches it; ties go to the more specific match, then to the
// range listed first, then (wildcards) to text/html. An empty header, or one
// nothing matches, gets text/html: PEP 691 lets a server answer a default
// rather than 406, and old clients and browsers are best served by HTML.
// ok reports whether the header matched.
func negotiate(accept string) (f format, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return formatHTML, false
	}
	type match struct {
		q    int // thousandths
		spec int // 0 */*, 1 type/*, 2 exact
		pos  int
	}
	var best [numFormats]match
	for i := range best {
		best[i] = match{q: -1}
	}
	pos := 0
	for part := range strings.SplitSeq(accept, ",") {
		if pos >= maxAcceptRanges {
			break
		}
		mt, q, valid := parseRange(part)
		if !valid {
			continue
		}
		pos++
		for c := range numFormats {
			spec := rangeMatches(mt, c)
			if spec < 0 {
				continue
			}
			if spec > best[c].spec || best[c].q < 0 {
				best[c] = match{q: q, spec: spec, pos: pos}
			}
		}
	}
	winner := format(-1)
	for c := range numFormats {
		m := best[c]
		if m.q <= 0 {
			continue
		}
		if winner < 0 {
			winner = c
			continue
		}
		w := best[winner]
		switch {
		case m.q != w.q:
			if m.q > w.q {
				winner = c
			}
		case m.spec != w.spec:
			if m.spec > w.spec {
				winner = c
			}
		case m.pos < w.pos:
			winner = c
		}
		// Same range for both: the earlier candidate (text/html first) stays.
	}
	if winner < 0 {
		return formatHTML, false
	}
	return winner, true
}

// parseRange splits one media range into its lower-case type and q in
// thousandths. Ranges with a malformed q are dropped.
func parseRange(s string) (string, int, bool) {
	mt, params, _ := strings.Cut(s, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "*" {
		mt = "*/*" // seen in the wild
	}
	if mt == "" || !strings.Contains(mt, "/") {
		return "", 0, false
	}
	q := 1000
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.ToLower(strings.TrimSpace(k)) != "q" {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 || f != f {
			return "", 0, false
		}
		q = int(f*1000 + 0.5)
		break
	}
	return mt, q, true
}

// rangeMatches returns how specifically media range mt matches c: -1 not
// at all, 0 "*/*", 1 "type/*", 2 exactly (the "latest" aliases of PEP 691
// count as exact).
func rangeMatches(mt string, c format) int {
	full := [numFormats]string{typeHTML, typeHTMLv1, typeJSON}[c]
	switch mt {
	case full:
		return 2
	case "application/vnd.pypi.simple.latest+html":
		if c == formatHTMLv1 {
			return 2
		}
	case "application/vnd.pypi.simple.latest+json":
		if c == formatJSON {
			return 2
		}
	case "*/*":
		return 0
	}
	if typ, ok := strings.CutSuffix(mt, "/*"); ok && strings.HasPrefix(full, typ+"/") {
		return 1
	}
	return -1
}
