package cargo

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// The publish body is the parser that faces the network: framing, the
// metadata JSON, the .crate archive.

func FuzzPublishBody(f *testing.F) {
	crate := crateOf(f, "acme", "0.1.0")
	good := frame(metaOf("acme", "0.1.0", "", ""), crate)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(frame(metaOf("acme", "0.1.0", `[{"optional":false,"default_features":true,"name":"serde","features":[],"version_req":"^1","target":null,"kind":"normal","explicit_name_in_toml":"s"}]`, `{"a":["dep:serde"]}`), crate))
	f.Add(frame([]byte(`{"name":"acme"}`), nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	dir := f.TempDir() // one for the run: the .crate is spooled to a file
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, size := range []int64{int64(len(body)), -1} {
			q, err := ReadRequest(bytes.NewReader(body), size, 1<<20)
			if err != nil {
				continue
			}
			if !ValidName(q.Name()) || !validVersion(q.Vers()) {
				t.Fatalf("accepted name %q version %q", q.Name(), q.Vers())
			}
			q.unpackLimit = 1 << 20 // the fuzzer's flate is slow
			tmp, _, n, err := q.spool(dir)
			left, _ := os.ReadDir(dir)
			if err != nil {
				if len(left) != 0 {
					t.Fatalf("a refused .crate left %d files", len(left))
				}
				continue
			}
			fi, serr := os.Stat(tmp)
			if serr != nil || fi.Size() != n || n > int64(len(body)) {
				t.Fatalf("spooled %d bytes, stat %v", n, serr)
			}
			os.Remove(tmp)
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add(metaOf("acme", "0.1.0", "", ""))
	f.Add(metaOf("acme", "1.0.0-rc.1+b", `[{"optional":true,"default_features":false,"name":"w","features":["x"],"version_req":">=0.3, <0.4","target":"cfg(windows)","kind":"dev","registry":"https://r.example/index","artifact":["bin"],"lib":true}]`, `{"d":["dep:w","w?/x"],"e":[]}`))
	f.Add([]byte(`{"name":"a","vers":"0.0.0","deps":[],"features":{},"Name":"b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseMetadata(b)
		if err != nil {
			return
		}
		if !ValidName(e.Name) || !validVersion(e.Vers) || e.Features == nil || e.Deps == nil {
			t.Fatalf("accepted %+v", e)
		}
		for _, d := range e.Deps {
			if !ValidName(d.Name) || !validReq(d.Req) || d.Features == nil {
				t.Fatalf("accepted dep %+v", d)
			}
		}
		// The index line is one line of JSON that reads back the same.
		line, err := marshalEntry(e)
		if err != nil || bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("index line %q: %v", line, err)
		}
		var back IndexEntry
		if err := json.Unmarshal(line, &back); err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("index line %s reads back as %+v (%v)", line, back, err)
		}
	})
}

func FuzzVersion(f *testing.F) {
	for _, s := range []string{"0.1.0", "1.0.0-rc.1+b.2", "1.x", ">=1, <2", "*", "01.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validVersion(s) {
			if !validReq(s) || !validReq("="+s) || !validReq("^ "+s) {
				t.Fatalf("version %q is no requirement", s)
			}
			if versionBase(s) == "" {
				t.Fatalf("versionBase(%q) empty", s)
			}
		}
		validReq(s)
		validRustVersion(s)
	})
}
