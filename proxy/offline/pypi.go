package offline

import (
	"strings"

	"nora/proxy/prefetch"
)

// pypi fills the cache through the handlers as prefetch does (the
// project's page, every file of the version, their metadata), then
// writes what the cache holds: packages/pypi/<project>/_page (the page as
// the upstream sent it), _files/<filename> and _metadata/<filename>.
func (e *exporter) pypi(it prefetch.Item) error {
	if err := e.prefetched(it); err != nil {
		return err
	}
	project := prefetch.PyPIName(it.Name)
	var page struct {
		Files []struct {
			Filename string `json:"filename"`
		} `json:"files"`
	}
	if err := e.decode("/simple/"+project+"/", &page, "application/vnd.pypi.simple.v1+json"); err != nil {
		return err
	}
	base := refsDir + "pypi/" + project
	if err := e.cached(base + "/_page"); err != nil {
		return err
	}
	for _, f := range page.Files {
		if !prefetch.PyPIFileOf(f.Filename, it.Name, it.Ref) {
			continue
		}
		if err := e.cached(base + "/_files/" + f.Filename); err != nil {
			return err
		}
		// Metadata is there when the page offered it (prefetch fetched it).
		if err := e.cachedIfAny(base + "/_metadata/" + f.Filename); err != nil {
			return err
		}
	}
	return nil
}

// pypiKey tells whether key is one import may write for PyPI.
func pypiKey(key string) bool {
	rest, ok := strings.CutPrefix(key, refsDir+"pypi/")
	return ok && pypiKeyRe.MatchString(rest)
}
