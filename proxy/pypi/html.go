package pypi

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// parseHTML reads the anchors of a PEP 503 page with the HTML5 tokenizer,
// so third-party indexes are read as a browser (and pip) would read them:
// comments, doctypes and bogus markup are skipped, the contents of script,
// style and the other raw-text elements are text, attribute names are
// case-insensitive and the first of duplicates counts, character
// references are decoded by the HTML rules. A tag cut off by the end of
// the page is dropped, as HTML does: its last attribute may be truncated.
//
// Like pip, links resolve against the first <base href>, wherever it is on
// the page, else against pageURL.
func parseHTML(b []byte, pageURL *url.URL) (*page, error) {
	p := &page{}
	var hrefs []string // hrefs[i] is the link of p.files[i], unresolved
	var baseHref *string
	named := -1 // the anchor whose text comes next, if any
	z := html.NewTokenizer(bytes.NewReader(b))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break // io.EOF: b is all in memory
		}
		if named >= 0 && tt == html.TextToken {
			p.files[named].name = strings.TrimSpace(string(z.Text()))
		}
		named = -1
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		switch string(name) {
		case "a":
			if !hasAttr {
				continue
			}
			f, href, ok := readAnchor(z)
			if !ok {
				continue
			}
			p.files = append(p.files, f)
			hrefs = append(hrefs, href)
			named = len(p.files) - 1
		case "meta":
			var isVersion bool
			var content string
			for more := hasAttr; more; {
				var k, v []byte
				k, v, more = z.TagAttr()
				switch string(k) {
				case "name":
					isVersion = strings.EqualFold(string(v), "pypi:repository-version")
				case "content":
					content = strings.TrimSpace(string(v))
				}
			}
			if isVersion {
				p.apiVersion = content
			}
		case "base":
			for more := hasAttr && baseHref == nil; more; {
				var k, v []byte
				k, v, more = z.TagAttr()
				if string(k) == "href" {
					s := string(v)
					baseHref = &s
					break
				}
			}
		case "noscript":
			// Raw text only where scripts run; index clients do not run them.
			z.NextIsNotRawText()
		}
	}

	base := pageURL
	if baseHref != nil {
		if u, err := pageURL.Parse(strings.TrimSpace(*baseHref)); err == nil {
			base = u
		}
	}
	kept := p.files[:0]
	for i, f := range p.files {
		if resolveFile(&f, hrefs[i], base) {
			kept = append(kept, f)
		}
	}
	p.files = kept
	return p, nil
}

// readAnchor reads the attributes of the <a> start tag z is at. ok=false:
// the anchor has no href.
func readAnchor(z *html.Tokenizer) (f file, href string, ok bool) {
	f.size = -1
	var coreMD, distInfoMD *string
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch string(k) {
		case "href":
			href, ok = string(v), true
		case "data-requires-python":
			s := string(v)
			f.requiresPython = &s
		case "data-yanked":
			f.yanked, f.yankedReason = true, string(v)
		case "data-core-metadata":
			s := string(v)
			coreMD = &s
		case "data-dist-info-metadata":
			s := string(v)
			distInfoMD = &s
		case "data-gpg-sig":
			g := strings.EqualFold(string(v), "true")
			f.gpgSig = &g
		}
	}
	// PEP 714's name wins over PEP 658's.
	if coreMD == nil {
		coreMD = distInfoMD
	}
	if coreMD != nil {
		f.metadata, f.metadataHashes = parseHashValue(*coreMD)
	}
	return f, href, ok
}
