package pypi

// The hand-written HTML reader that parseHTML replaced, kept verbatim but
// for its names (old...) as the reference FuzzParseSimpleIndex compares the
// new parser with. Not used outside tests.

import (
	"html"
	"net/url"
	"strings"
)

// oldParseHTML reads the anchors of a simple page with a small tokenizer:
// comments are skipped, attribute values may be quoted either way or not
// at all, character references are decoded.
func oldParseHTML(b []byte, pageURL *url.URL) (*page, error) {
	p := &page{}
	s := string(b)
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s[4:], "-->")
			if end < 0 {
				break
			}
			s = s[4+end+3:]
			continue
		}
		name, attrs, rest := oldReadTag(s)
		s = rest
		switch name {
		case "a":
			end := oldIndexFold(s, "</a")
			text := s
			if end >= 0 {
				text = s[:end]
				s = s[end:]
			}
			if j := strings.IndexByte(text, '<'); j >= 0 {
				text = text[:j] // markup inside the anchor: keep the leading text
			}
			href, ok := attrs["href"]
			if !ok {
				continue
			}
			f := file{name: strings.TrimSpace(html.UnescapeString(text)), size: -1}
			if v, ok := attrs["data-requires-python"]; ok {
				f.requiresPython = &v
			}
			if v, ok := attrs["data-yanked"]; ok {
				f.yanked, f.yankedReason = true, v
			}
			v, ok := attrs["data-core-metadata"]
			if !ok {
				v, ok = attrs["data-dist-info-metadata"]
			}
			if ok {
				f.metadata, f.metadataHashes = parseHashValue(v)
			}
			if v, ok := attrs["data-gpg-sig"]; ok {
				g := strings.EqualFold(v, "true")
				f.gpgSig = &g
			}
			if resolveFile(&f, href, pageURL) {
				p.files = append(p.files, f)
			}
		case "meta":
			if strings.EqualFold(attrs["name"], "pypi:repository-version") {
				p.apiVersion = strings.TrimSpace(attrs["content"])
			}
		}
	}
	return p, nil
}

// oldMaxAttrs bounds the attributes kept per tag.
const oldMaxAttrs = 32

// oldReadTag reads the tag at the start of s ("<name attr=...>") and returns
// its lower-case name (with a leading "/" for end tags), its attributes
// (names lower-cased, values decoded) and what follows the tag.
func oldReadTag(s string) (string, map[string]string, string) {
	i := 1
	for i < len(s) && !oldIsSpace(s[i]) && s[i] != '>' && (s[i] != '/' || i == 1) {
		i++
	}
	name := strings.ToLower(s[1:i])
	var attrs map[string]string
	if name == "a" || name == "meta" {
		attrs = map[string]string{}
	}
	for i < len(s) {
		for i < len(s) && (oldIsSpace(s[i]) || s[i] == '/') {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '>' {
			return name, attrs, s[i+1:]
		}
		start := i
		for i < len(s) && !oldIsSpace(s[i]) && s[i] != '/' && s[i] != '>' && s[i] != '=' {
			i++
		}
		if i == start {
			i++ // a stray "=": skip it
			continue
		}
		key := strings.ToLower(s[start:i])
		for i < len(s) && oldIsSpace(s[i]) {
			i++
		}
		val := ""
		if i < len(s) && s[i] == '=' {
			i++
			for i < len(s) && oldIsSpace(s[i]) {
				i++
			}
			if i < len(s) && (s[i] == '"' || s[i] == '\'') {
				q := s[i]
				end := strings.IndexByte(s[i+1:], q)
				if end < 0 {
					val, i = s[i+1:], len(s)
				} else {
					val, i = s[i+1:i+1+end], i+1+end+1
				}
			} else {
				vs := i
				for i < len(s) && !oldIsSpace(s[i]) && s[i] != '>' {
					i++
				}
				val = s[vs:i]
			}
		}
		if attrs != nil && len(attrs) < oldMaxAttrs {
			if _, dup := attrs[key]; !dup { // the first of duplicates counts, as in browsers
				attrs[key] = html.UnescapeString(val)
			}
		}
	}
	return name, attrs, ""
}

func oldIsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// oldIndexFold is strings.Index for an ASCII needle, ignoring case.
func oldIndexFold(s, needle string) int {
	for i := 0; i+len(needle) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}
