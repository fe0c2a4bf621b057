package pypi

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// FuzzParseSimpleIndex checks the HTML5 reader (parseHTML) against the
// hand-written one it replaced (oldParseHTML, oldparse_test.go). On any
// input the new reader must not panic and must keep only servable files.
// Unless incomparable says why not, the two must agree on the API version,
// on whether the page is refused, and on every file, field for field
// (name, URL, hashes, requires-python, yank and its reason, metadata and
// its hashes, gpg-sig), in order.
//
// They legitimately differ, HTML being right, on pages with
//   - NUL bytes (U+FFFD in HTML attributes) or CR (LF in them);
//   - a KELVIN SIGN, which the old reader lower-cased to "k" in names;
//   - <base href>, which only the new reader honours;
//   - character references other than &amp; &lt; &gt; &quot; &apos; and
//     numeric ones closed by ";" and in range (HTML decodes named ones
//     without ";" differently in attributes; the old decoder overflowed);
//   - an "=" starting an attribute name (<a ="x" =href=y>);
//   - raw-text elements (script, style, textarea, xmp, iframe, noembed,
//     noframes, plaintext, a <title> holding markup), text to HTML;
//   - a "<" before neither a letter, "/" nor "!", or "</" before no letter
//     (text or bogus comments to HTML, tags to the old reader);
//   - comments closed as HTML closes them and the old reader did not
//     (<!-->, <!--->, --!>), declarations holding "=";
//   - markup inside an anchor (before the next "</a") holding another
//     <a> or <meta>, a comment or a quote: the old reader skipped it all;
//   - an <a> or <meta> with 32 attributes or more (the old reader kept 32);
//   - a tag cut off by the end of the page (HTML drops it).
func FuzzParseSimpleIndex(f *testing.F) {
	seed := func(body string, _ ...string) { f.Add([]byte(body)) }
	htmlCases(seed)
	hostileCases(seed)
	seed(string(manyAnchors(3)))
	p, err := parsePage(manyAnchors(2), testPageURL)
	if err != nil {
		f.Fatal(err)
	}
	p.files[1].yanked, p.files[1].yankedReason, p.files[1].gpgSig = true, `"why" & <how>`, new(true)
	seed(string(renderHTML(p, "http://nora.test", "big")))
	seed(`<a href=/f/a.whl title="</a><a href=/f/b.whl>">a.whl</a>`)
	seed(`<a href=/f/a.whl>a.whl<!-- </a> --><a href=/f/b.whl>b.whl</a>`)
	seed(`<p title=<a href=/f/a.whl>a.whl</a>`)
	seed(`<a href=/f/a.whl data-yanked=&amp;&lt;&gt;&quot;&apos;&#39;&#x27;>a.whl</a>`)
	seed(`<!doctype html><meta name=pypi:repository-version content=1.1><base href=/x/><a href=a.whl>a</a>`)

	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parsePage(body, testPageURL)
		if err == nil {
			checkServable(t, p)
		}
		if trimmed := bytes.TrimLeft(body, " \t\r\n\ufeff"); len(trimmed) > 0 && trimmed[0] == '{' {
			return // JSON: one reader
		}
		if why := incomparable(body); why != "" {
			return
		}
		old, oldErr := oldParseHTML(body, testPageURL)
		if oldErr == nil {
			old, oldErr = checkPage(old)
		}
		if (err != nil) != (oldErr != nil) {
			t.Fatalf("new reader: %v, old reader: %v", err, oldErr)
		}
		if err != nil {
			return
		}
		if p.apiVersion != old.apiVersion {
			t.Fatalf("api version %q, old reader %q", p.apiVersion, old.apiVersion)
		}
		if (len(p.files) > 0 || len(old.files) > 0) && !reflect.DeepEqual(p.files, old.files) {
			t.Fatalf("files differ\n new %s\n old %s", details(p.files), details(old.files))
		}
	})
}

// incomparable says why the old reader may read body differently from
// HTML, or "" if it reads it the same way. The old reader had its own
// tokenizer; each rule below names a construct where it parted from
// HTML's (the new reader is right there). The rules are lexical and err on
// the side of skipping: a construct inside a comment or attribute value
// counts too.
func incomparable(body []byte) string {
	s := string(body)
	lower := asciiLower(s)
	switch {
	case strings.ContainsAny(s, "\x00\r"):
		// HTML reads NUL as U+FFFD in attributes and CR, CRLF as LF.
		return "NUL or CR"
	case strings.ContainsRune(s, '\u212a'):
		// The old reader lower-cased names by Unicode rules: KELVIN SIGN became "k".
		return "KELVIN SIGN"
	case strings.Contains(lower, "<base"):
		// The new reader resolves links against <base href>.
		return "<base>"
	case strayEquals.MatchString(s):
		// HTML makes "=" the first character of an attribute name
		// (<a ="x" =href=y>); the old reader skipped it. Conservatively,
		// any "=" after white space, "/", a quote or another "=".
		return `"=" starting an attribute name`
	case rawText.MatchString(lower):
		// The content of raw-text elements is text in HTML, markup to the
		// old reader.
		return "raw-text element"
	}
	for t := lower; ; {
		// A <title> of plain text reads alike.
		i := strings.Index(t, "<title")
		if i < 0 {
			break
		}
		t = t[i+len("<title"):]
		if !strings.HasPrefix(t, ">") || !strings.HasPrefix(t[strings.IndexByte(t, '<')+1:], "/title>") {
			return "<title> holding markup"
		}
	}
	for i := strings.IndexByte(s, '&'); i >= 0; i = nextByte(s, i, '&') {
		// Named references other than these five, and numeric ones
		// without ";" or out of range: HTML leaves "&name" alone in
		// attributes when a "=" or a letter follows, and never takes a
		// prefix of an unknown name there; the old decoder,
		// html.UnescapeString, did, and it also missed "&#1" without ";",
		// read "&#x;" as U+FFFD and overflowed on long numbers.
		if ref := s[i:]; len(ref) > 1 && (isLetter(ref[1]) || ref[1] == '#') && !okReference.MatchString(ref) {
			return "character reference"
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '<' {
			continue
		}
		rest := s[i+1:]
		switch {
		case rest == "":
			return `"<" at the end`
		case isLetter(rest[0]):
			if why := oldAnchorSkip(lower[i:], s[i:]); why != "" {
				return why
			}
		case rest[0] == '/':
			if len(rest) < 2 || !isLetter(rest[1]) {
				// "</>", "</1": ignored or a bogus comment in HTML, a tag to the old reader.
				return `"</" without a letter`
			}
		case strings.HasPrefix(rest, "!--"):
			// HTML closes "<!-->", "<!--->" and "--!>"; the old reader did not.
			c := rest[3:]
			end := strings.Index(c, "-->")
			if end >= 0 {
				c = c[:end]
			}
			if strings.HasPrefix(c, ">") || strings.HasPrefix(c, "->") || strings.Contains(c, "--!>") {
				return "abruptly closed comment"
			}
		case rest[0] == '!':
			// A doctype or bogus comment ends at the first ">" in HTML; the
			// old reader read a tag, whose quoted values could run past it.
			decl := rest
			if end := strings.IndexByte(decl, '>'); end >= 0 {
				decl = decl[:end]
			}
			if strings.ContainsRune(decl, '=') {
				return `"=" in a declaration`
			}
		default:
			// "<?", "< ", "<3": a bogus comment or text in HTML, a tag to the old reader.
			return `"<" before neither a letter, "/" nor "!"`
		}
	}
	// HTML drops a tag cut off by the end of the input; the old reader
	// kept it.
	z := html.NewTokenizer(bytes.NewReader(body))
	for z.Next() != html.ErrorToken {
	}
	if len(z.Raw()) > 0 {
		return "ends inside a tag"
	}
	return ""
}

var (
	okReference = regexp.MustCompile(`^&(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});`)
	strayEquals = regexp.MustCompile(`[ \t\n\f/"'=]=`)
	rawText     = regexp.MustCompile(`<(?:script|style|textarea|xmp|iframe|noembed|noframes|plaintext)`)
)

// nextByte is the index of the next c in s after i, or -1.
func nextByte(s string, i int, c byte) int {
	j := strings.IndexByte(s[i+1:], c)
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// asciiLower is strings.ToLower for ASCII letters only, keeping offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isLetter(c byte) bool { return 'A' <= c&^0x20 && c&^0x20 <= 'Z' }

// oldAnchorSkip checks a tag at the start of s (lower-case: lower). The
// old reader skipped from the end of an <a> start tag to the next "</a",
// where HTML reads every tag: that skip must hide nothing the new reader
// acts on (another <a>, a <meta>, a "</a" inside a comment or quoted
// value). It also kept only the first 32 attributes of a tag.
func oldAnchorSkip(lower, s string) string {
	name, attrs, rest := oldReadTag(s)
	if name != "a" && name != "meta" {
		return ""
	}
	if len(attrs) >= oldMaxAttrs {
		return "more than 32 attributes"
	}
	if name != "a" {
		return ""
	}
	rest = lower[len(lower)-len(rest):]
	end := strings.Index(rest, "</a")
	if end < 0 {
		return ""
	}
	skipped := rest[:end]
	if !strings.Contains(skipped, "<") {
		return ""
	}
	if strings.ContainsAny(skipped, `"'`) || strings.Contains(skipped, "<!") || anchorOrMeta.MatchString(skipped) {
		return "markup inside an anchor"
	}
	return ""
}

var anchorOrMeta = regexp.MustCompile(`<(?:a|meta)(?:[ \t\n\f/>]|$)`)

// details shows files in full, for a failure message.
func details(files []file) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "\n  %q %q %v", f.name, f.url, f.hashes)
		if f.requiresPython != nil {
			fmt.Fprintf(&b, " rp=%q", *f.requiresPython)
		}
		fmt.Fprintf(&b, " yanked=%v %q md=%v %v", f.yanked, f.yankedReason, f.metadata, f.metadataHashes)
		if f.gpgSig != nil {
			fmt.Fprintf(&b, " gpg=%v", *f.gpgSig)
		}
	}
	return b.String()
}
