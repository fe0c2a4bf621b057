package cargo

import (
	"strings"
	"testing"
)

func TestParseMetadata(t *testing.T) {
	// want is the index line parseMetadata makes (cksum and pubtime are
	// added by Publish), or "error: <part of the message>".
	f := func(in []byte, want string) {
		t.Helper()
		e, err := parseMetadata(in)
		if wantErr, isErr := strings.CutPrefix(want, "error: "); isErr {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("parseMetadata(%s) = %v, want error with %q", in, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseMetadata(%s): %v", in, err)
		}
		line, err := marshalEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(line) != want {
			t.Fatalf("parseMetadata(%s)\n got %s\nwant %s", in, line, want)
		}
	}
	const tail = `"cksum":"","features":{},"yanked":false,"links":null}`
	dep := func(fields string) string {
		return `[{"optional":false,"default_features":true,"name":"serde","features":["derive"],"version_req":"^1.0","kind":"normal"` + fields + `}]`
	}

	f(metaOf("acme", "0.1.0", "", ""), `{"name":"acme","vers":"0.1.0","deps":[],`+tail)
	// version_req becomes req; a dependency of this registry has registry
	// null, one of another keeps its index URL.
	f(metaOf("acme", "0.1.0", dep(""), ""),
		`{"name":"acme","vers":"0.1.0","deps":[{"name":"serde","req":"^1.0","features":["derive"],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":null}],`+tail)
	f(metaOf("acme", "0.1.0", dep(`,"registry":"https://github.com/rust-lang/crates.io-index"`), ""),
		`{"name":"acme","vers":"0.1.0","deps":[{"name":"serde","req":"^1.0","features":["derive"],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":"https://github.com/rust-lang/crates.io-index"}],`+tail)
	// A renamed dependency: listed under the name the dependent uses, the
	// crate in package.
	f(metaOf("acme", "0.1.0", dep(`,"explicit_name_in_toml":"serde1"`), ""),
		`{"name":"acme","vers":"0.1.0","deps":[{"name":"serde1","req":"^1.0","features":["derive"],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":null,"package":"serde"}],`+tail)
	f(metaOf("acme", "0.1.0", `[{"optional":true,"default_features":false,"name":"winapi","features":[],"version_req":"0.3","target":"cfg(target_os = \"windows\")","kind":"build"}]`, ""),
		`{"name":"acme","vers":"0.1.0","deps":[{"name":"winapi","req":"0.3","features":[],"optional":true,"default_features":false,"target":"cfg(target_os = \"windows\")","kind":"build","registry":null}],`+tail)
	// Features with dep: or ?/ go to features2, with v 2; artifact
	// dependencies make v 3.
	f(metaOf("acme", "0.1.0", "", `{"default":["std"],"std":[],"serde":["dep:serde","chrono?/serde"]}`),
		`{"name":"acme","vers":"0.1.0","deps":[],"cksum":"","features":{"default":["std"],"std":[]},"features2":{"serde":["dep:serde","chrono?/serde"]},"yanked":false,"links":null,"v":2}`)
	f(metaOf("acme", "0.1.0", dep(`,"artifact":["bin"],"bindep_target":"x86_64-unknown-linux-gnu","lib":true`), `{"x":["dep:serde"]}`),
		`{"name":"acme","vers":"0.1.0","deps":[{"name":"serde","req":"^1.0","features":["derive"],"optional":false,"default_features":true,"target":null,"kind":"normal","registry":null,"artifact":["bin"],"bindep_target":"x86_64-unknown-linux-gnu","lib":true}],"cksum":"","features":{},"features2":{"x":["dep:serde"]},"yanked":false,"links":null,"v":3}`)
	f([]byte(`{"name":"acme-sys","vers":"1.0.0-rc.1+b5","deps":[],"features":{"f":null},"links":"acme","rust_version":"1.70","future_field":{"x":1}}`),
		`{"name":"acme-sys","vers":"1.0.0-rc.1+b5","deps":[],"cksum":"","features":{"f":[]},"yanked":false,"links":"acme","rust_version":"1.70"}`)

	// Refused.
	f([]byte(``), "error: publish metadata")
	f([]byte(`[]`), "error: publish metadata")
	f([]byte(`null`), "error: not a JSON object")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"features":{}} x`), "error: data after the JSON object")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"features":{}} {}`), "error: data after the JSON object")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"features":{}`), "error: publish metadata")
	f([]byte(`{"name":"acme","vers":"0.1.0","name":"evil","deps":[],"features":{}}`), `error: key "name" appears twice`)
	f(metaOf("acme", "0.1.0", `[{"name":"serde","name":"evil","version_req":"^1","features":[],"optional":false,"default_features":true,"kind":"normal"}]`, ""), `error: dependency 0: key "name" appears twice`)
	// Unknown keys are not looked into.
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"features":{},"x":{"a":1,"a":2}}`), `{"name":"acme","vers":"0.1.0","deps":[],`+tail)
	f([]byte(`{"vers":"0.1.0","deps":[],"features":{}}`), "error: name is missing")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":null,"features":{}}`), "error: deps is missing")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[]}`), "error: features is missing")
	f([]byte(`{"name":"acme","NAME":"evil","vers":"0.1.0","deps":[],"features":{}}`), `error: unknown key "NAME"`)
	f([]byte(`{"name":1,"vers":"0.1.0","deps":[],"features":{}}`), "error: name")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"features":{},"authors":"me"}`), "error: authors")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"features":{"a":"b"}}`), "error: features")
	f(metaOf("1acme", "0.1.0", "", ""), "error: invalid crate name")
	f(metaOf("ac/me", "0.1.0", "", ""), "error: invalid crate name")
	f(metaOf(strings.Repeat("a", 65), "0.1.0", "", ""), "error: invalid crate name")
	f(metaOf("acme", "0.1", "", ""), "error: invalid version")
	f(metaOf("acme", "../0.1.0", "", ""), "error: invalid version")
	f(metaOf("acme", "0.1.0", `[{"name":"serde","version_req":"^1","features":[],"optional":false,"default_features":true,"kind":"weird"}]`, ""), "error: invalid kind")
	f(metaOf("acme", "0.1.0", `[{"name":"serde","version_req":"^1","features":[],"optional":false,"default_features":true,"kind":"normal","Kind":"dev"}]`, ""), `error: unknown key "Kind"`)
	f(metaOf("acme", "0.1.0", `[{"name":"serde","features":[],"optional":false,"default_features":true,"kind":"normal"}]`, ""), "error: version_req is missing")
	f(metaOf("acme", "0.1.0", `[{"name":"serde","version_req":"latest","features":[],"optional":false,"default_features":true,"kind":"normal"}]`, ""), "error: invalid version requirement")
	f(metaOf("acme", "0.1.0", `[{"name":"se rde","version_req":"1","features":[],"optional":false,"default_features":true,"kind":"normal"}]`, ""), "error: invalid crate name")
	f(metaOf("acme", "0.1.0", `[null]`, ""), "error: dependency 0")
	f(metaOf("acme", "0.1.0", dep(`,"explicit_name_in_toml":"a b"`), ""), "error: invalid explicit_name_in_toml")
	f(metaOf("acme", "0.1.0", dep(`,"registry":"http://x/ y"`), ""), "error: invalid registry")
	f(metaOf("acme", "0.1.0", dep(`,"target":"cfg(unix)\n"`), ""), "error: invalid target")
	f(metaOf("acme", "0.1.0", "", `{"bad name":[]}`), "error: invalid feature name")
	f(metaOf("acme", "0.1.0", "", `{"a":["x\"y"]}`), "error: invalid value")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"features":{},"rust_version":"1.70-nightly"}`), "error: invalid rust_version")
	f([]byte(`{"name":"acme","vers":"0.1.0","deps":[],"features":{},"links":""}`), "error: invalid links")
}
