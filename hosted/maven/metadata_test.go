package maven

import (
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"

	"nora/internal/fault"
)

func TestParseMetadata(t *testing.T) {
	f := func(in string, want ClientMetadata) {
		t.Helper()
		got, err := ParseMetadata([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseMetadata(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	// What mvn deploy sends for an artifact and for a SNAPSHOT version.
	f(`<?xml version="1.0" encoding="UTF-8"?>
<metadata modelVersion="1.1.0">
  <groupId>com.acme</groupId>
  <artifactId>lib</artifactId>
  <versioning>
    <latest>1.0</latest>
    <release>1.0</release>
    <versions><version>1.0</version><version>9.9</version></versions>
    <lastUpdated>20240102030405</lastUpdated>
  </versioning>
</metadata>
<!-- trailing comment -->
`, ClientMetadata{GroupID: "com.acme", ArtifactID: "lib"})
	f(`<metadata xmlns="http://maven.apache.org/METADATA/1.1.0"><groupId> com.acme </groupId><artifactId>lib</artifactId><version>1.1-SNAPSHOT</version>
<versioning><snapshot><timestamp>20240102.030405</timestamp><buildNumber>x</buildNumber></snapshot></versioning></metadata>`,
		ClientMetadata{GroupID: "com.acme", ArtifactID: "lib", Version: "1.1-SNAPSHOT"})
	f(`<metadata><plugins><plugin><name>A B</name><prefix>ab</prefix><artifactId>ab-maven-plugin</artifactId></plugin></plugins></metadata>`,
		ClientMetadata{Plugins: []Plugin{{Name: "A B", Prefix: "ab", ArtifactID: "ab-maven-plugin"}}})
	f(`<metadata/>`, ClientMetadata{})
}

func TestParseMetadataRefuses(t *testing.T) {
	f := func(in string) {
		t.Helper()
		if got, err := ParseMetadata([]byte(in)); !errors.Is(err, fault.Invalid) {
			t.Fatalf("ParseMetadata(%q) = %+v, %v; want fault.Invalid", in, got, err)
		}
	}
	f(``)
	f(`not xml`)
	f(`<project/>`)
	f(`<metadata>`)
	f(`<metadata></metadata><metadata></metadata>`)
	f(`<metadata></metadata>trailing`)
	f(`<metadata><groupId>com/acme</groupId></metadata>`)
	f(`<metadata><groupId>com..acme</groupId></metadata>`)
	f(`<metadata><artifactId>../x</artifactId></metadata>`)
	f(`<metadata><version>1 0</version></metadata>`)
	f(`<metadata><plugins><plugin><prefix>a b</prefix><artifactId>x</artifactId></plugin></plugins></metadata>`)
	f(`<metadata><plugins><plugin><prefix>a</prefix></plugin></plugins></metadata>`)
	f(`<metadata><plugins><plugin><name>a&#x1;</name><prefix>a</prefix><artifactId>x</artifactId></plugin></plugins></metadata>`)
	f(`<!DOCTYPE x [<!ENTITY e "x">]><metadata><groupId>&e;</groupId></metadata>`)
	f(`<metadata>` + strings.Repeat(" ", MaxMetadataBytes) + `</metadata>`)
}

// FuzzParseMetadata: a deployed maven-metadata.xml faces the network.
// Parsing never panics; what it accepts holds only valid coordinates and
// survives nora's writer unchanged.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		`<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.0-SNAPSHOT</version></metadata>`,
		`<metadata><plugins><plugin><name>n</name><prefix>p</prefix><artifactId>a</artifactId></plugin></plugins></metadata>`,
		`<?xml version="1.0"?><metadata modelVersion="1.1.0"><versioning><versions><version>1</version></versions></versioning></metadata>`,
		`<metadata><![CDATA[x]]></metadata>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetadata(b)
		if err != nil {
			if !errors.Is(err, fault.Invalid) {
				t.Fatalf("error %v is not fault.Invalid", err)
			}
			return
		}
		if m.GroupID != "" && !validGroupID(m.GroupID) || m.ArtifactID != "" && !ValidSegment(m.ArtifactID) ||
			m.Version != "" && !ValidSegment(m.Version) {
			t.Fatalf("accepted invalid coordinates %+v", m)
		}
		mx := metadataXML{GroupID: m.GroupID, ArtifactID: m.ArtifactID, Version: m.Version}
		if len(m.Plugins) > 0 {
			mx.Plugins = &pluginsXML{m.Plugins}
		}
		out, err := xml.Marshal(mx)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseMetadata(out)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip of %+v: %+v, %v (%s)", m, again, err, out)
		}
	})
}
