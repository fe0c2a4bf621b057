package pypi

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	hosted "nora/hosted/pypi"
)

var testPageURL, _ = url.Parse("https://index.test/simple/demo/")

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// summary is a compact, comparable view of a parsed file.
func summary(f file) string {
	s := f.name + " " + f.url
	for _, alg := range hashPreference {
		if v := f.hashes[alg]; v != "" {
			s += " " + alg + "=" + v[:6]
		}
	}
	if f.requiresPython != nil {
		s += " rp=" + *f.requiresPython
	}
	if f.yanked {
		s += " yanked=" + f.yankedReason
	}
	if f.metadata {
		s += " md"
		if v := f.metadataHashes["sha256"]; v != "" {
			s += "=" + v[:6]
		}
	}
	if f.gpgSig != nil {
		s += fmt.Sprintf(" gpg=%v", *f.gpgSig)
	}
	if f.size >= 0 {
		s += fmt.Sprintf(" size=%d", f.size)
	}
	return s
}

func TestParseHTML(t *testing.T) {
	htmlCases(func(body string, want ...string) { t.Helper(); wantFiles(t, body, want...) })
}

// htmlCases calls f with HTML pages and the summaries of the files
// parsePage finds there; they seed the fuzzers too.
func htmlCases(f func(body string, want ...string)) {
	f(`<a href="https://files.test/a/demo-1.0.tar.gz#sha256=`+sha+`">demo-1.0.tar.gz</a>`,
		"demo-1.0.tar.gz https://files.test/a/demo-1.0.tar.gz sha256=012345")
	// relative links resolve against the page; the anchor text is the name
	f(`<A HREF='../../files/x/demo-1.0-py3-none-any.whl#SHA256=`+strings.ToUpper(sha)+`'>demo-1.0-py3-none-any.whl</A>`,
		"demo-1.0-py3-none-any.whl https://index.test/files/x/demo-1.0-py3-none-any.whl sha256=012345")
	// percent-encoded names; a name from the URL when the text is empty
	f(`<a href="/f/torch-2.3.0%2Bcu121-cp311-cp311-linux_x86_64.whl"></a>`,
		"torch-2.3.0+cu121-cp311-cp311-linux_x86_64.whl https://index.test/f/torch-2.3.0%2Bcu121-cp311-cp311-linux_x86_64.whl")
	// attributes: escaped requires-python, yanked with and without reason, metadata old and new names
	f(`<a href="/f/a-1.whl" data-requires-python="&gt;=3.8,&lt;4" data-yanked="" data-dist-info-metadata="sha256=`+sha+`">a-1.whl</a>`,
		"a-1.whl https://index.test/f/a-1.whl rp=>=3.8,<4 yanked= md=012345")
	f(`<a href=/f/a-2.whl data-yanked="bad &amp; broken" data-core-metadata=true data-gpg-sig=false>a-2.whl</a>`,
		"a-2.whl https://index.test/f/a-2.whl yanked=bad & broken md gpg=false")
	f(`<a href="/f/a-3.whl" data-core-metadata="sha256=`+sha+`" data-dist-info-metadata="true">a-3.whl</a>`,
		"a-3.whl https://index.test/f/a-3.whl md=012345")
	f(`<a href="/f/a-4.whl" data-core-metadata="false">a-4.whl</a>`, "a-4.whl https://index.test/f/a-4.whl")
	// malformed metadata hash: metadata is not offered, the file is
	f(`<a href="/f/a-5.whl" data-core-metadata="sha256=zz">a-5.whl</a>`, "a-5.whl https://index.test/f/a-5.whl")
	// a malformed hash of a known algorithm drops the file; unknown ones are ignored
	f(`<a href="/f/a-6.whl#sha256=abc">a-6.whl</a><a href="/f/a-7.whl#blake2b=xyz">a-7.whl</a>`, "a-7.whl https://index.test/f/a-7.whl")
	// what cannot be served is left out: no href, other schemes, bad names, duplicates, .metadata files
	f(`<a name="x">x</a><a href="ftp://h/a.whl">a.whl</a><a href="javascript:x">b.whl</a><a href="/f/c d.whl">c d.whl</a>`+
		`<a href="/f/d.whl">d.whl</a><a href="/f/other/d.whl">d.whl</a><a href="/f/d.whl.metadata">d.whl.metadata</a><a href="">e.whl</a>`,
		"d.whl https://index.test/f/d.whl")
	// comments, other tags, markup inside the anchor, entities in the text
	f(`<!-- <a href="/f/hidden.whl">hidden.whl</a> --><html><body><h1>Links</h1>`+
		`<a href="/f/x-1.whl"><span>x</span></a><a href="/f/y&amp;1.whl">y&amp;1.whl</a><br/>`,
		"x-1.whl https://index.test/f/x-1.whl", "y&1.whl https://index.test/f/y&1.whl")
	// unterminated things do not hang or panic
	f(`<a href="/f/z.whl">z.whl`, "z.whl https://index.test/f/z.whl")
	f(`<a href="/f/z.whl`) // a tag cut off by the end of the page is dropped: its href may be cut too
	f(`<!-- never closed <a href="/f/z.whl">z.whl</a>`)
	f(``)
	f(`not html at all`)
}

// wantFiles parses body as an upstream page of testPageURL and compares
// the summaries of its files.
func wantFiles(t *testing.T, body string, want ...string) {
	t.Helper()
	p, err := parsePage([]byte(body), testPageURL)
	if err != nil {
		t.Fatalf("parsePage(%.200q): %v", body, err)
	}
	var got []string
	for _, f := range p.files {
		got = append(got, summary(f))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsePage(%.200q)\n got %q\nwant %q", body, got, want)
	}
}

// TestParseHTMLHostile feeds pages as third-party indexes write them.
func TestParseHTMLHostile(t *testing.T) {
	hostileCases(func(body string, want ...string) { t.Helper(); wantFiles(t, body, want...) })
	// the version meta, wherever it is
	wantErr := func(body string) {
		t.Helper()
		if _, err := parsePage([]byte(body), testPageURL); err == nil {
			t.Fatalf("parsePage(%q) accepted an unsupported version", body)
		}
	}
	wantErr(`<body><META NAME="PyPI:Repository-Version" CONTENT=" 2.0 "></body>`)
	wantErr(`<meta content=2.1 name=pypi:repository-version>`)
}

// hostileCases is htmlCases for pages as third-party indexes write them.
func hostileCases(f func(body string, want ...string)) {
	// comments hide anchors, whatever closes them
	f(`<!-- <a href="/f/c.whl">c.whl</a> --><a href="/f/d.whl">d.whl</a>`, "d.whl https://index.test/f/d.whl")
	f(`<!-- a -- <a href="/f/c.whl"> --!><a href="/f/d.whl">d.whl</a>`, "d.whl https://index.test/f/d.whl")
	f(`<!--><a href="/f/d.whl">d.whl</a><!---><a href="/f/e.whl">e.whl</a>`, // empty comments
		"d.whl https://index.test/f/d.whl", "e.whl https://index.test/f/e.whl")
	f(`<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN"><?xml version="1.0"?><![CDATA[<a href="/f/c.whl">]]>`+
		`<a href="/f/d.whl">d.whl</a>`, "d.whl https://index.test/f/d.whl")
	// script, style and other raw text are not markup; noscript is, for clients that run no scripts
	f(`<script>document.write('<a href="/f/c.whl">c.whl</a>')</script><style>a::before{content:"<a href=/f/c.whl>"}</style>`+
		`<title><a href="/f/c.whl">c.whl</a></title><textarea><a href="/f/c.whl"></textarea>`+
		`<noscript><a href="/f/d.whl">d.whl</a></noscript>`, "d.whl https://index.test/f/d.whl")
	// entities in hrefs, text and attributes; named ones without ";" as HTML reads them in attributes
	f(`<a href="/f/a.whl?x=1&amp;y=2&#38;z=&quot;">a.whl</a>`, `a.whl https://index.test/f/a.whl?x=1&y=2&z="`)
	f(`<a href="/f/b.whl?a=1&copy=2&not;">b&#46;whl</a>`, "b.whl https://index.test/f/b.whl?a=1&copy=2¬")
	f(`<a href="&#x2F;f&sol;c.whl" data-requires-python="&gt;=3.8,&lt;4&#x2c;!=3.9.*">c.whl</a>`,
		"c.whl https://index.test/f/c.whl rp=>=3.8,<4,!=3.9.*")
	// upper case, unquoted and oddly spaced attributes, in any order
	f(`<A DATA-YANKED="no" HREF=/f/a.whl Data-Requires-Python = '>=3' >a.whl</A>`,
		"a.whl https://index.test/f/a.whl rp=>=3 yanked=no")
	f(`<a href=/f/b.whl#sha256=`+sha+` data-core-metadata=sha256=`+sha+`>b.whl</a>`,
		"b.whl https://index.test/f/b.whl sha256=012345 md=012345")
	f("<a\thref\n=\n\"/f/c.whl\"\fdata-gpg-sig=TRUE />c.whl</a><a href=/f/d.whl data-gpg-sig=true/>d.whl</a>", "c.whl https://index.test/f/c.whl gpg=true", "d.whl https://index.test/f/d.whl gpg=false") // unquoted "true/"
	f(`<a href="/f/d.whl"data-yanked>d.whl</a><a href='/f/e.whl'/>e.whl</a>`, "d.whl https://index.test/f/d.whl yanked=", "e.whl https://index.test/f/e.whl")
	// duplicates: the first attribute counts; an attribute name may start with "="
	f(`<a href="/f/a.whl" HREF="/f/b.whl">a.whl</a>`, "a.whl https://index.test/f/a.whl")
	f(`<a =href="/f/a.whl">a.whl</a>`)
	// anchors without href are not links, and their text names nothing
	f(`<a>a.whl</a><a name="b.whl">b.whl</a><a href>c.whl</a><a href="/f/d.whl">d.whl</a>`, "d.whl https://index.test/f/d.whl")
	f(`<a id=x></a>`)
	// anchors inside other markup, or inside other anchors; the text before any markup names the file
	f(`<table><tr><td><p><b><a href="/f/a.whl">a.whl</a></b></td></tr></table>`+
		`<a href="/f/b.whl"><a href="/f/c.whl">c.whl</a></a><a href="/f/d.whl"> d.whl <br>e.whl</a>`,
		"a.whl https://index.test/f/a.whl", "b.whl https://index.test/f/b.whl", "c.whl https://index.test/f/c.whl", "d.whl https://index.test/f/d.whl")
	f(`<a href="/f/a.whl">a.whl <3</a>`) // "a.whl <3" is text, and no filename
	// <base href> applies to every link, wherever it is; the first counts; relative to the page
	f(`<a href="a.whl">a.whl</a><base href="https://mirror.test/x/"><base href="https://other.test/">`+
		`<a href="../b.whl">b.whl</a><a href="https://files.test/c.whl">c.whl</a>`,
		"a.whl https://mirror.test/x/a.whl", "b.whl https://mirror.test/b.whl", "c.whl https://files.test/c.whl")
	f(`<base target=_top><base href="../../files/"><a href="a.whl">a.whl</a>`, "a.whl https://index.test/files/a.whl")
	f(`<base href="http://[::1"><a href="a.whl">a.whl</a>`, "a.whl https://index.test/simple/demo/a.whl") // unparsable: ignored
	f(`<meta name="pypi:repository-version" content="1.2"><a href="/f/a.whl">a.whl</a>`, "a.whl https://index.test/f/a.whl")
	f(`<script><meta name="pypi:repository-version" content="2.0"></script>`)
	// NUL bytes (U+FFFD in attributes, as HTML reads them), invalid UTF-8, a BOM
	f("\ufeff<a href=\"/f/\x00a.whl\">\xffa.whl</a><a href=\"/f/b.whl\x00\">b.whl</a><a href=/f/c.whl>c.whl\x00</a>",
		"b.whl https://index.test/f/b.whl%EF%BF%BD")
}

// TestParseHTMLLarge parses a page of 100k anchors (some 15 MB, under the
// default cap) in one pass.
func TestParseHTMLLarge(t *testing.T) {
	body := manyAnchors(100_000)
	if max := DefaultConfig().MaxPageSize; int64(len(body)) > int64(max) {
		t.Fatalf("a page of %d bytes is over the default cap %d", len(body), max)
	}
	p, err := parsePage(body, testPageURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.files) != 100_000 {
		t.Fatalf("%d files, want 100000", len(p.files))
	}
	if got, want := summary(p.files[99_999]), "big-0.99999-py3-none-any.whl https://files.test/packages/big-0.99999-py3-none-any.whl sha256=012345 rp=>=3.8 md=012345"; got != want {
		t.Fatalf("last file: %s, want %s", got, want)
	}
}

// manyAnchors is a project page with n files, as PyPI writes them.
func manyAnchors(n int) []byte {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Links for big</title>\n  </head>\n  <body>\n    <h1>Links for big</h1>\n")
	for i := range n {
		name := fmt.Sprintf("big-0.%d-py3-none-any.whl", i)
		fmt.Fprintf(&b, "    <a href=\"https://files.test/packages/%s#sha256=%s\" data-requires-python=\"&gt;=3.8\" data-dist-info-metadata=\"sha256=%s\">%s</a><br />\n",
			name, sha, sha, name)
	}
	b.WriteString("  </body>\n</html>\n")
	return []byte(b.String())
}

func TestParseJSON(t *testing.T) {
	f := func(files string, want ...string) {
		t.Helper()
		body := `{"meta":{"api-version":"1.1"},"name":"demo","files":[` + files + `]}`
		p, err := parsePage([]byte(body), testPageURL)
		if err != nil {
			t.Fatalf("parsePage(%s): %v", body, err)
		}
		var got []string
		for _, f := range p.files {
			got = append(got, summary(f))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parsePage(%s)\n got %q\nwant %q", body, got, want)
		}
	}
	f(`{"filename":"demo-1.0.tar.gz","url":"https://files.test/a/demo-1.0.tar.gz","hashes":{"sha256":"`+sha+`"},"size":12}`,
		"demo-1.0.tar.gz https://files.test/a/demo-1.0.tar.gz sha256=012345 size=12")
	f(`{"filename":"a+1.whl","url":"../../f/a%2B1.whl","hashes":{},"requires-python":">=3.8,<4","yanked":"why","core-metadata":{"sha256":"`+sha+`"}}`,
		"a+1.whl https://index.test/f/a%2B1.whl rp=>=3.8,<4 yanked=why md=012345")
	f(`{"filename":"b.whl","url":"/b.whl","hashes":{"SHA256":"`+sha+`","md5":"0123456789abcdef0123456789abcdef"},"yanked":true,"dist-info-metadata":true,"gpg-sig":true}`,
		"b.whl https://index.test/b.whl sha256=012345 md5=012345 yanked= md gpg=true")
	f(`{"filename":"c.whl","url":"/c.whl","hashes":{},"yanked":false,"data-dist-info-metadata":{"sha256":"`+sha+`"},"requires-python":null}`,
		"c.whl https://index.test/c.whl md=012345")
	f(`{"filename":"","url":"/x.whl","hashes":{}},{"filename":"y.whl","hashes":{}},{"filename":"z.whl","url":"/z.whl","hashes":{"sha256":"1"}}`)

	g := func(body string, wantErr bool) {
		t.Helper()
		_, err := parsePage([]byte(body), testPageURL)
		if (err != nil) != wantErr {
			t.Fatalf("parsePage(%s): %v, want error %v", body, err, wantErr)
		}
	}
	g(`{"meta":{"api-version":"1.0"},"files":[]}`, false)
	g(` {"meta":{"api-version":"1.4"},"files":[],"new-key":1}`, false)
	g(`{"meta":{"api-version":"2.0"},"files":[]}`, true)
	g(`{"files":[]}`, true)
	g(`{"meta":`, true)
	g(`{"meta":{"api-version":"1.0"},"files":[{"filename":"a.whl","url":"/a.whl","hashes":{"sha256":1}}]}`, true)
	g(`<meta name="pypi:repository-version" content="2.0">`, true)
	g(`<meta name="pypi:repository-version" content="1.3">`, false)
}

// TestRenderRoundTrip renders pages from both representations and parses
// them back: links point at nora, metadata survives.
func TestRenderRoundTrip(t *testing.T) {
	html := `<meta name="pypi:repository-version" content="1.0">` +
		`<a href="https://files.test/a/demo-1.0%2Blocal-py3-none-any.whl#sha256=` + sha + `" data-requires-python="&gt;=3.8,&lt;4 &quot;q&quot;" data-yanked="old &amp; bad" data-core-metadata="sha256=` + sha + `">demo-1.0+local-py3-none-any.whl</a>` +
		`<a href="https://files.test/a/demo-1.0.tar.gz#md5=0123456789abcdef0123456789abcdef">demo-1.0.tar.gz</a>`
	p, err := parsePage([]byte(html), testPageURL)
	if err != nil {
		t.Fatal(err)
	}
	out := renderHTML(p, "http://nora.test:4000", "demo")
	for _, want := range []string{
		`<meta name="pypi:repository-version" content="1.0">`,
		`<a href="http://nora.test:4000/simple/demo/demo-1.0%2Blocal-py3-none-any.whl#sha256=` + sha + `"`,
		`data-requires-python="&gt;=3.8,&lt;4 &#34;q&#34;"`,
		`data-yanked="old &amp; bad"`,
		`data-core-metadata="sha256=` + sha + `" data-dist-info-metadata="sha256=` + sha + `"`,
		`>demo-1.0+local-py3-none-any.whl</a>`,
		`<a href="http://nora.test:4000/simple/demo/demo-1.0.tar.gz#md5=0123456789abcdef0123456789abcdef">`,
	} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("rendered HTML lacks %s:\n%s", want, out)
		}
	}
	js := renderJSON(p, "http://nora.test:4000", "demo")
	for _, want := range []string{
		`"meta":{"api-version":"1.0"},"name":"demo"`,
		`"url":"http://nora.test:4000/simple/demo/demo-1.0%2Blocal-py3-none-any.whl"`,
		`"requires-python":">=3.8,<4 \"q\""`,
		`"yanked":"old & bad"`,
		`"core-metadata":{"sha256":"` + sha + `"}`,
		`"hashes":{"md5":"0123456789abcdef0123456789abcdef"}`,
	} {
		if !strings.Contains(string(js), want) {
			t.Fatalf("rendered JSON lacks %s:\n%s", want, js)
		}
	}
	if strings.Contains(string(js), "dist-info-metadata") {
		t.Fatalf("rendered JSON has dist-info-metadata, which pip 23.0 chokes on:\n%s", js)
	}
	checkRoundTrip(t, p)
}

// checkRoundTrip parses p's renderings back and compares what each
// representation carries.
func checkRoundTrip(t *testing.T, p *page) {
	t.Helper()
	const base = "http://nora.test"
	self, _ := url.Parse(base + "/simple/demo/")
	for _, rendered := range [][]byte{renderHTML(p, base, "demo"), renderJSON(p, base, "demo")} {
		q, err := parsePage(rendered, self)
		if err != nil {
			t.Fatalf("cannot parse own rendering: %v\n%s", err, rendered)
		}
		isJSON := rendered[0] == '{'
		if len(q.files) != len(p.files) || q.apiVersion != p.apiVersion && isJSON {
			t.Fatalf("round trip: %d files (api %q), want %d (api %q)\n%s", len(q.files), q.apiVersion, len(p.files), p.apiVersion, rendered)
		}
		for i, a := range p.files {
			b := q.files[i]
			if b.name != a.name || b.url != base+"/simple/demo/"+escapeSegment(a.name) || b.yanked != a.yanked || b.metadata != a.metadata ||
				(b.requiresPython == nil) != (a.requiresPython == nil) {
				t.Fatalf("round trip changed a file:\n got %s\nwant %s\n%s", summary(b), summary(a), rendered)
			}
			strs := [][2]string{{a.yankedReason, b.yankedReason}}
			if a.requiresPython != nil {
				strs = append(strs, [2]string{*a.requiresPython, *b.requiresPython})
			}
			for _, s := range strs {
				if utf8.ValidString(s[0]) && s[0] != s[1] {
					t.Fatalf("round trip changed %q to %q\n%s", s[0], s[1], rendered)
				}
			}
			if isJSON && !reflect.DeepEqual(a.hashes, b.hashes) {
				t.Fatalf("round trip changed hashes %v to %v", a.hashes, b.hashes)
			}
			for _, alg := range hashPreference {
				if a.hashes[alg] != "" {
					if b.hashes[alg] != a.hashes[alg] {
						t.Fatalf("round trip lost the %s hash", alg)
					}
					break
				}
			}
		}
	}
}

func FuzzParsePage(f *testing.F) {
	f.Add([]byte(`<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.0"></head><body>` +
		`<a href="https://files.test/a/demo-1.0.tar.gz#sha256=` + sha + `" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a><br/>` +
		`<a href='../../x/demo-1.0%2Bl-py3-none-any.whl' data-yanked data-dist-info-metadata="sha256=` + sha + `">demo-1.0+l-py3-none-any.whl</a>` +
		`<!-- c --><a href=/z.whl data-gpg-sig=true>z.whl</a></body></html>`))
	f.Add([]byte(`{"meta":{"api-version":"1.1"},"name":"demo","versions":["1.0"],"files":[` +
		`{"filename":"demo-1.0.tar.gz","url":"https://files.test/a/demo-1.0.tar.gz","hashes":{"sha256":"` + sha + `"},"requires-python":">=3.8","size":3,"upload-time":"2024-01-01T00:00:00Z"},` +
		`{"filename":"d+1.whl","url":"../d%2B1.whl","hashes":{},"yanked":"r","core-metadata":{"sha256":"` + sha + `"},"gpg-sig":false}]}`))
	f.Add([]byte(`<a href="x`))
	f.Add([]byte(`<a b=c =d e='f`))
	f.Add([]byte(`{"meta":{"api-version":"1.0"},"files":[{"filename":"a","url":"http://h/a","hashes":{},"yanked":true,"dist-info-metadata":true}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parsePage(body, testPageURL)
		if err != nil {
			return
		}
		checkServable(t, p)
		checkRoundTrip(t, p)
	})
}

// checkServable checks that every file of p can be fetched and served.
func checkServable(t *testing.T, p *page) {
	t.Helper()
	for _, fl := range p.files {
		u, err := url.Parse(fl.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			t.Fatalf("file %q has URL %q", fl.name, fl.url)
		}
		if !hosted.ValidFilename(fl.name) || strings.HasSuffix(fl.name, ".metadata") {
			t.Fatalf("unservable file name %q kept", fl.name)
		}
		for alg, v := range fl.hashes {
			if len(v) != hashLen[alg] || strings.ToLower(v) != v {
				t.Fatalf("malformed hash %s=%q kept", alg, v)
			}
		}
	}
}
