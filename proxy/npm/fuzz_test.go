package npm

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"nora/cache"
	hosted "nora/hosted/npm"
)

// FuzzParseRequest: whatever the path, a parsed request names a valid
// package whose cache keys pass the store's check and stay under the
// package's own prefix.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"/npm/lodash", "/npm/@acme%2fdep", "/npm/@acme/dep/-/dep-1.0.0.tgz", "/npm/-/ping",
		"/npm/-/npm/v1/security/audits/quick", "/npm/%2e%2e/-/x.tgz", "/npm/@a/../-/b.tgz", "/npm/a%00/-/x.tgz",
		"/npm/@x%2f..%2f..", "/npm/a/-/..%2f..%2fx.tgz", "/npm/-/whoami", "/npm/@a%2fb/-rev/1-a",
		"/npm/@a/b/-/b-1.tgz/-rev/2-b", "/npm/-/package/@a%2fb/dist-tags/beta", "/npm/-/package/..%2f/dist-tags",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, err := parseRequest(path)
		if err != nil {
			return
		}
		switch r.kind {
		case kindPing, kindAudit, kindWhoami, kindLogin:
			return
		}
		if r.rev != "" && !validRev(r.rev) || r.tag != "" && !validTagChars(r.tag) {
			t.Fatalf("%q: invalid rev %q or tag %q accepted", path, r.rev, r.tag)
		}
		if !hosted.ValidName(r.name) || strings.Count(r.name, "/") > 1 {
			t.Fatalf("%q: invalid name %q accepted", path, r.name)
		}
		keys := []string{docKey(r.name, true), docKey(r.name, false)}
		if r.kind == kindTarball || r.kind == kindTarballRev {
			if !validFile(r.file) || strings.Contains(r.file, "/") {
				t.Fatalf("%q: invalid file %q accepted", path, r.file)
			}
			keys = append(keys, tarballKey(r.name, r.file))
		}
		for _, k := range keys {
			if err := cache.CheckKey(k); err != nil || !strings.HasPrefix(k, "refs/npm/"+r.name+"/") {
				t.Fatalf("%q: key %q: %v", path, k, err)
			}
		}
	})
}

// FuzzPackument: the scanner never panics; on valid JSON the rewritten
// document is valid JSON with the announced length, and every tarball URL
// it rewrote points at nora.
func FuzzPackument(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"versions":{"1":{"dist":{"tarball":"https://up/a-1.tgz","integrity":"sha512-AA==","shasum":"ab"}}}}`,
		`{"versions":{"1":{"dist":{"tarball":"https:\/\/up\/a-1.tgz"}}},"x":[{"y":"\"}"}]}`,
		`{"versions":{"1":{"dist":{"tarball":"https://up/a-1.tgz","tarball":"x"}}}}`,
		`{"versions":{"1":{"dist":{"tarball":`, `{"versions":{"1":[{{{`, `{"versions":"x"}`, ` {"a":1e5,"b":true,"c":null}`,
	} {
		f.Add([]byte(s))
	}
	const base = "http://nora.test:4000"
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, _ = findDist(doc, "a-1.tgz")
		edits, size, err := rewriteTarballs(doc, base, "@a/b")
		if err != nil {
			return
		}
		last := 0
		for _, e := range edits {
			if e.start < last || e.end < e.start || e.end > len(doc) {
				t.Fatalf("edit [%d,%d) out of order or bounds (last %d, len %d)", e.start, e.end, last, len(doc))
			}
			last = e.end
		}
		out, err := io.ReadAll(&splicer{doc: doc, edits: edits})
		if err != nil || int64(len(out)) != size {
			t.Fatalf("spliced %d bytes (%v), announced %d", len(out), err, size)
		}
		if checkPackument(doc) != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("valid %s rewritten to invalid %s", doc, out)
		}
		// Every dist whose tarball nora can serve now points at nora.
		servable, rewritten := 0, 0
		eachDist(doc, func(d *rawDist) bool {
			if tarballFile(d.tarball(doc)) != "" {
				servable++
			}
			return true
		})
		if err := eachDist(out, func(d *rawDist) bool {
			if strings.HasPrefix(d.tarball(out), base+"/npm/@a/b/-/") {
				rewritten++
			}
			return true
		}); err != nil {
			t.Fatalf("rewritten document does not scan: %v", err)
		}
		if rewritten != servable {
			t.Fatalf("%d servable tarballs, %d point at nora after rewriting:\n%s\n%s", servable, rewritten, doc, out)
		}
	})
}
