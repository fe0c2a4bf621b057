package npm

import (
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"

	"nora/internal/fault"
)

// publishBody is the document npm publish sends for name@ver with tarball
// tgz (its shape as captured from npm 11).
func publishBody(name, ver string, tgz []byte) string {
	s512 := sha512.Sum512(tgz)
	s1 := sha1.Sum(tgz)
	manifest := map[string]any{
		"name": name, "version": ver, "main": "index.js", "readme": "# " + name, "readmeFilename": "README.md",
		"_id": name + "@" + ver, "dependencies": map[string]string{"dep": "^1.0.0"},
		"dist": map[string]string{
			"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]),
			"shasum":    hex.EncodeToString(s1[:]),
			"tarball":   "http://127.0.0.1:1/npm/" + name + "/-/" + name + "-" + ver + ".tgz",
		},
	}
	doc := map[string]any{
		"_id": name, "name": name, "description": "d", "dist-tags": map[string]string{"latest": ver},
		"versions": map[string]any{ver: manifest}, "access": nil,
		"_attachments": map[string]any{name + "-" + ver + ".tgz": map[string]any{
			"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tgz), "length": len(tgz),
		}},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

func TestReadDocument(t *testing.T) {
	tgz := []byte("not really a tarball, but bytes all the same \x00\xff")
	good := publishBody("@acme/lib", "1.0.0", tgz)
	b64 := base64.StdEncoding.EncodeToString(tgz)
	// ok stands for no error.
	const ok = fault.Kind(255)
	f := func(what, body string, lim Limits, wantKind fault.Kind, want []byte) {
		t.Helper()
		dir := t.TempDir()
		doc, err := ReadDocument(strings.NewReader(body), dir, lim)
		if left, _ := os.ReadDir(dir); err != nil && len(left) != 0 {
			t.Fatalf("%s: a failed read left %d files", what, len(left))
		}
		if (wantKind == ok) != (err == nil) || (err != nil && fault.KindOf(err) != wantKind) {
			t.Fatalf("%s: %v (kind %v), want kind %v", what, err, fault.KindOf(err), wantKind)
		}
		if err != nil {
			return
		}
		defer doc.Attachment.Discard()
		switch {
		case want == nil && doc.Attachment != nil:
			t.Fatalf("%s: an attachment where none was sent", what)
		case want == nil:
			return
		case doc.Attachment == nil:
			t.Fatalf("%s: no attachment", what)
		}
		a := doc.Attachment
		got, err := os.ReadFile(a.path)
		if err != nil || string(got) != string(want) || a.Size != int64(len(want)) || a.SHA256 != digest.FromBytes(want) {
			t.Fatalf("%s: attachment %q (%v), size %d, %s; want %q", what, got, err, a.Size, a.SHA256, want)
		}
	}
	f("npm's document", good, Limits{}, ok, tgz)
	f("escaped slashes and line breaks", strings.Replace(good, b64, strings.ReplaceAll(b64[:20], "/", `\/`)+`\n`+b64[20:], 1), Limits{}, ok, tgz)
	f("unicode escapes", strings.Replace(good, b64, `\u0`+fmt.Sprintf("%03x", b64[0])+b64[1:], 1), Limits{}, ok, tgz)
	f("no attachments (npm deprecate)", `{"name":"x","versions":{"1.0.0":{"deprecated":"old"}}}`, Limits{}, ok, nil)
	f("null attachments", `{"name":"x","_attachments":null}`, Limits{}, ok, nil)
	f("a stub attachment", `{"name":"x","_attachments":{"x-1.tgz":{"stub":true}}}`, Limits{}, ok, nil)
	f("white space around", " \n"+good+"\n ", Limits{}, ok, tgz)

	f("exactly at the cap", good, Limits{MaxBody: int64(len(good))}, ok, tgz)
	f("one byte over the cap", good, Limits{MaxBody: int64(len(good)) - 1}, fault.TooLarge, nil)
	f("metadata over its cap", good, Limits{MaxMetadata: 100}, fault.TooLarge, nil)
	f("a huge key", `{"`+strings.Repeat("k", 2000)+`":1}`, Limits{}, fault.TooLarge, nil)
	f("invalid base64", strings.Replace(good, b64, "!!!!"+b64[4:], 1), Limits{}, fault.Invalid, nil)
	f("data after the padding", strings.Replace(good, b64, "QQ==QQ==", 1), Limits{}, fault.Invalid, nil)
	f("a control character in data", strings.Replace(good, b64, b64[:8]+"\x01"+b64[8:], 1), Limits{}, fault.Invalid, nil)
	f("a bad escape in data", strings.Replace(good, b64, b64[:8]+`\x`+b64[8:], 1), Limits{}, fault.Invalid, nil)
	f("a bad unicode escape", strings.Replace(good, b64, `\u00zz`+b64, 1), Limits{}, fault.Invalid, nil)
	f("data is a number", `{"_attachments":{"a.tgz":{"data":12}}}`, Limits{}, fault.Invalid, nil)
	f("two tarballs", `{"_attachments":{"a.tgz":{"data":"QQ=="},"b.tgz":{"data":"QQ=="}}}`, Limits{}, fault.Invalid, nil)
	f("data twice", `{"_attachments":{"a.tgz":{"data":"QQ==","data":"QQ=="}}}`, Limits{}, fault.Invalid, nil)
	f("a negative length", `{"_attachments":{"a.tgz":{"data":"QQ==","length":-1}}}`, Limits{}, fault.Invalid, nil)
	f("cut in the data", good[:strings.Index(good, b64)+10], Limits{}, fault.Invalid, nil)
	f("cut at the end", good[:len(good)-1], Limits{}, fault.Invalid, nil)
	f("trailing garbage", good+"x", Limits{}, fault.Invalid, nil)
	f("two documents", good+good, Limits{}, fault.Invalid, nil)
	f("not an object", `["a"]`, Limits{}, fault.Invalid, nil)
	f("empty", ``, Limits{}, fault.Invalid, nil)
	f("invalid metadata", `{"versions":{"1.0.0":{"a":tru}}}`, Limits{}, fault.Invalid, nil)
	f("versions of the wrong type", `{"versions":["1.0.0"]}`, Limits{}, fault.Invalid, nil)
	f("a key without a value", `{"name"}`, Limits{}, fault.Invalid, nil)
	f("deep nesting", `{"x":`+strings.Repeat("[", 2000)+strings.Repeat("]", 2000)+`}`, Limits{}, fault.Invalid, nil)
}

// A body that breaks off mid-way (the client went away) leaves nothing.
func TestReadDocumentBrokenBody(t *testing.T) {
	dir := t.TempDir()
	body := publishBody("lib", "1.0.0", make([]byte, 200<<10))
	_, err := ReadDocument(iotest.TimeoutReader(iotest.HalfReader(strings.NewReader(body))), dir, Limits{})
	if err == nil {
		t.Fatal("a broken body was read")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("a broken body left %d files", len(left))
	}
}

// FuzzReadDocument: whatever the body, ReadDocument does not panic, and
// either fails leaving no file or hands over an attachment whose file
// holds exactly the bytes its hashes describe.
func FuzzReadDocument(f *testing.F) {
	for _, s := range []string{
		publishBody("@a/b", "1.0.0", []byte("tarball")), `{}`, `{"_attachments":{"a":{"data":"QQ=="}}}`,
		`{"_attachments":{"a":{"data":"Q\/Q=\n"}}}`, `{"_attachments":{"a":{"data":"\u0051Q=="}}}`,
		`{"versions":{"1.0.0":{"deprecated":""}},"name":"x"}`, `{"a":[{"b":"\""}],"c":1e5}`, `{"_attachments":null}`,
		`{"_attachments":{"a":{"data":"QQ==","length":1}}}`, `{"x":"\\"}`, `{`, `{"a":`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir() // each fuzz worker runs its inputs one after the other
	f.Fuzz(func(t *testing.T, body []byte) {
		doc, err := ReadDocument(strings.NewReader(string(body)), dir, Limits{MaxBody: 1 << 20, MaxMetadata: 64 << 10})
		left, _ := os.ReadDir(dir)
		if err != nil {
			if len(left) != 0 {
				t.Fatalf("failed (%v) and left %d files", err, len(left))
			}
			return
		}
		if a := doc.Attachment; a != nil {
			got, err := os.ReadFile(a.path)
			if err != nil || int64(len(got)) != a.Size || digest.FromBytes(got) != a.SHA256 {
				t.Fatalf("attachment file %d bytes (%v), announced %d %s", len(got), err, a.Size, a.SHA256)
			}
			a.Discard()
		} else if len(left) != 0 {
			t.Fatalf("no attachment, but %d files", len(left))
		}
	})
}
