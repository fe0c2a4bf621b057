package pypi

import (
	"strings"
	"testing"

	"nora/cache"
	hosted "nora/hosted/pypi"
)

// FuzzProjectFileKeys: whatever project and file name a request path
// carries (/simple/<project>/<file>), the ones Serve accepts make keys the
// store accepts, under the project's own prefix, with no way out of it.
func FuzzProjectFileKeys(f *testing.F) {
	for _, s := range [][2]string{
		{"demo", "demo-1.0.tar.gz"}, {"Acme_Lib", "acme_lib-1.0-py3-none-any.whl"}, {"..", "x.whl"},
		{"a", "..%2Fx.tar.gz"}, {"a\x00b", "a.whl"}, {"a", "a\\b.whl"}, {"a.b", ".whl"}, {"a", "\xc0\xae\xc0\xae.whl"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, project, file string) {
		if !validProject(project) || !hosted.ValidFilename(file) {
			return
		}
		norm := normalize(project)
		if !validProject(norm) || normalize(norm) != norm || strings.ContainsAny(norm, "/._") {
			t.Fatalf("project %q normalized to %q", project, norm)
		}
		// One segment, never "." or "..": dots inside it are harmless.
		if strings.ContainsAny(file, "/\\\x00%") || strings.HasPrefix(file, ".") {
			t.Fatalf("file name %q accepted", file)
		}
		for _, k := range []string{pageKey(norm), fileKey(norm, file), metadataKey(norm, file)} {
			if err := cache.CheckKey(k); err != nil || !strings.HasPrefix(k, keyPrefix+norm+"/_") {
				t.Fatalf("project %q file %q: key %q: %v", project, file, k, err)
			}
		}
	})
}
