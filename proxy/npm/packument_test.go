package npm

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// rewrite applies rewriteTarballs to doc and returns the result.
func rewrite(t testing.TB, doc, base, name string) string {
	t.Helper()
	edits, size, err := rewriteTarballs([]byte(doc), base, name)
	if err != nil {
		t.Fatalf("rewriteTarballs(%s): %v", doc, err)
	}
	out, err := io.ReadAll(&splicer{doc: []byte(doc), edits: edits})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != size {
		t.Fatalf("rewritten %d bytes, announced %d", len(out), size)
	}
	return string(out)
}

func TestRewriteTarballs(t *testing.T) {
	const base = "http://nora:4000"
	f := func(doc, want string) {
		t.Helper()
		if got := rewrite(t, doc, base, "@a/b"); got != want {
			t.Fatalf("rewrite(%s)\n got %s\nwant %s", doc, got, want)
		}
	}
	f(`{}`, `{}`)
	f(` {"name":"@a/b"} `, ` {"name":"@a/b"} `)
	f(`{"versions":{"1.0.0":{"dist":{"tarball":"https://up/@a/b/-/b-1.0.0.tgz","shasum":"x"}}}}`,
		`{"versions":{"1.0.0":{"dist":{"tarball":"http://nora:4000/npm/@a/b/-/b-1.0.0.tgz","shasum":"x"}}}}`)
	// Everything else is byte for byte what upstream sent.
	f(`{"a" : [1, {"tarball":"https://x/y.tgz"}], "versions" : { "1" : { "x":null, "dist" : { "tarball" : "https://up/b-1.tgz" } , "y": 1.5e3 } ,"2":{"dist":{"tarball":"https://up/b-2.tgz"}}}, "z":"\"}"}`,
		`{"a" : [1, {"tarball":"https://x/y.tgz"}], "versions" : { "1" : { "x":null, "dist" : { "tarball" : "http://nora:4000/npm/@a/b/-/b-1.tgz" } , "y": 1.5e3 } ,"2":{"dist":{"tarball":"http://nora:4000/npm/@a/b/-/b-2.tgz"}}}, "z":"\"}"}`)
	// Escaped URLs are decoded first; query strings dropped.
	f(`{"versions":{"1":{"dist":{"tarball":"https:\/\/up\/b-1.tgz?x=1"}}}}`,
		`{"versions":{"1":{"dist":{"tarball":"http://nora:4000/npm/@a/b/-/b-1.tgz"}}}}`)
	// A repeated key is rewritten everywhere: no URL escapes nora.
	f(`{"versions":{"1":{"dist":{"tarball":"https://up/b-1.tgz","tarball":"https://evil/b-1.tgz"}}}}`,
		`{"versions":{"1":{"dist":{"tarball":"http://nora:4000/npm/@a/b/-/b-1.tgz","tarball":"http://nora:4000/npm/@a/b/-/b-1.tgz"}}}}`)
	// Not a servable file name, or not a string: left alone.
	f(`{"versions":{"1":{"dist":{"tarball":"https://up/b-1.zip"}},"2":{"dist":{"tarball":7}},"3":{"dist":"x"},"4":[]}}`,
		`{"versions":{"1":{"dist":{"tarball":"https://up/b-1.zip"}},"2":{"dist":{"tarball":7}},"3":{"dist":"x"},"4":[]}}`)
	f(`{"versions":[{"dist":{"tarball":"https://up/b-1.tgz"}}]}`, `{"versions":[{"dist":{"tarball":"https://up/b-1.tgz"}}]}`)
	f(`{"dist":{"tarball":"https://up/b-1.tgz"}}`, `{"dist":{"tarball":"https://up/b-1.tgz"}}`)
}

func TestRewriteEscapesBase(t *testing.T) {
	out := rewrite(t, `{"versions":{"1":{"dist":{"tarball":"https://up/b-1.tgz"}}}}`, `http://a"b<c`, "b")
	var doc map[string]map[string]map[string]map[string]string
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got := doc["versions"]["1"]["dist"]["tarball"]; got != `http://a"b<c/npm/b/-/b-1.tgz` {
		t.Fatalf("tarball %q", got)
	}
}

func TestSplicerSmallReads(t *testing.T) {
	doc := `{"versions":{"1":{"dist":{"tarball":"https://up/b-1.tgz"}},"2":{"dist":{"tarball":"https://up/b-2.tgz"}}}}`
	edits, _, err := rewriteTarballs([]byte(doc), "http://n", "b")
	if err != nil {
		t.Fatal(err)
	}
	want := rewrite(t, doc, "http://n", "b")
	if err := iotest.TestReader(&splicer{doc: []byte(doc), edits: edits}, []byte(want)); err != nil {
		t.Fatal(err)
	}
}

func TestFindDist(t *testing.T) {
	doc := []byte(`{"name":"b","versions":{
		"1.0.0":{"dist":{"integrity":"sha512-AAAA","shasum":"aa","tarball":"https://up/b/-/b-1.0.0.tgz"}},
		"2.0.0":{"dist":{"tarball":"https://up/b/-/b-2.0.0.tgz","shasum":"bb"}}}}`)
	f := func(file, wantVersion, wantURL, wantSum string) {
		t.Helper()
		d, err := findDist(doc, file)
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			if wantVersion != "" {
				t.Fatalf("findDist(%q) = nil", file)
			}
			return
		}
		if d.version != wantVersion || d.tarball != wantURL || d.shasum != wantSum {
			t.Fatalf("findDist(%q) = %+v", file, d)
		}
	}
	f("b-1.0.0.tgz", "1.0.0", "https://up/b/-/b-1.0.0.tgz", "aa")
	f("b-2.0.0.tgz", "2.0.0", "https://up/b/-/b-2.0.0.tgz", "bb")
	f("b-3.0.0.tgz", "", "", "")
	if _, err := findDist([]byte(`{"versions":{"1":{"dist":{`), "b-1.tgz"); err == nil {
		t.Fatal("truncated packument: no error")
	}
}

func TestCheckPackument(t *testing.T) {
	f := func(doc string, ok bool) {
		t.Helper()
		if err := checkPackument([]byte(doc)); (err == nil) != ok {
			t.Fatalf("checkPackument(%s) = %v", doc, err)
		}
	}
	f(`{}`, true)
	f(` {"versions":{}}`, true)
	f(`[]`, false)
	f(`"x"`, false)
	f(`{`, false)
	f(`{}{}`, false)
	f(``, false)
}

func TestParseIntegrity(t *testing.T) {
	body := []byte("tarball bytes")
	s512 := sha512.Sum512(body)
	s384 := sha512.Sum384(body)
	s1 := sha1.Sum(body)
	b64 := base64.StdEncoding.EncodeToString
	f := func(sri, wantDigest, wantSHA1 string, wantErr bool) {
		t.Helper()
		d, sha1, err := parseIntegrity(sri)
		if string(d) != wantDigest || sha1 != wantSHA1 || (err != nil) != wantErr {
			t.Fatalf("parseIntegrity(%q) = %q, %q, %v", sri, d, sha1, err)
		}
	}
	f("", "", "", false)
	f("sha512-"+b64(s512[:]), "sha512:"+hex.EncodeToString(s512[:]), "", false)
	f("sha1-"+b64(s1[:]), "", hex.EncodeToString(s1[:]), false)
	f("sha384-"+b64(s384[:])+" sha512-"+b64(s512[:])+"?opt sha1-"+b64(s1[:]), "sha512:"+hex.EncodeToString(s512[:]), hex.EncodeToString(s1[:]), false)
	f("sha384-"+b64(s384[:]), "sha384:"+hex.EncodeToString(s384[:]), "", false)
	f("md5-AAAA sha999-x", "", "", false)
	f("sha512-"+strings.TrimRight(b64(s512[:]), "="), "sha512:"+hex.EncodeToString(s512[:]), "", false)
	f("sha512-AAAA", "", "", true)
	f("sha512-!!!", "", "", true)
	f("sha1-"+b64(s512[:]), "", "", true)
}

func TestExpectOf(t *testing.T) {
	f := func(d dist, wantSHA1 string, wantErr bool) {
		t.Helper()
		want, err := expectOf(&d)
		if want.SHA1 != wantSHA1 || (err != nil) != wantErr || want.Size != -1 {
			t.Fatalf("expectOf(%+v) = %+v, %v", d, want, err)
		}
	}
	sum := strings.Repeat("ab", 20)
	f(dist{shasum: strings.ToUpper(sum)}, sum, false)
	f(dist{}, "", false)
	f(dist{shasum: "xyz"}, "", true)
	f(dist{shasum: sum[:38]}, "", true)
}

func BenchmarkRewriteLargePackument(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"name":"big","versions":{`)
	for i := range 5000 {
		if i > 0 {
			buf.WriteByte(',')
		}
		v := "1.0." + strings.Repeat("9", i%5) + string(rune('0'+i%10))
		buf.WriteString(`"` + v + `":{"name":"big","version":"` + v + `","description":"` + strings.Repeat("words ", 100) +
			`","dist":{"integrity":"sha512-x","shasum":"y","tarball":"https://registry.example/big/-/big-` + v + `.tgz"}}`)
	}
	buf.WriteString(`}}`)
	doc := buf.Bytes()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		edits, _, err := rewriteTarballs(doc, "http://nora:4000", "big")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, &splicer{doc: doc, edits: edits})
	}
}
