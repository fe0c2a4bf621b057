package offline

import (
	"fmt"
	"strings"

	"nora/cache"
	"nora/proxy/prefetch"
)

// prefetched fills the cache with the item through the handlers, as
// nora prefetch does.
func (e *exporter) prefetched(it prefetch.Item) error {
	res := prefetch.Run(e.ctx, []prefetch.Item{it}, prefetch.Options{Client: e.o.Client, BaseURL: e.o.BaseURL, LinkPrefix: e.o.LinkPrefix, Concurrency: 1}, nil)
	if res[0].Status == prefetch.Failed {
		return fmt.Errorf("%s", res[0].Reason)
	}
	return nil
}

// cachedIfAny is cached for an object the item may lack (a pom-packaged
// artifact has no jar).
func (e *exporter) cachedIfAny(key string) error {
	if _, err := e.o.Source.Ref(e.ctx, key); err != nil {
		if cache.Missing(err) {
			return nil
		}
		return err
	}
	return e.cached(key)
}

// maven writes packages/maven/files/<path>/@ of the .pom and, when the
// artifact has one, the .jar: the checksum files mvn asks for nora
// computes from them.
func (e *exporter) maven(it prefetch.Item) error {
	if err := e.prefetched(it); err != nil {
		return err
	}
	group, artifact, _ := strings.Cut(it.Name, ":")
	file := strings.ReplaceAll(group, ".", "/") + "/" + artifact + "/" + it.Ref + "/" + artifact + "-" + it.Ref
	if err := e.cached(refsDir + "maven/files/" + file + ".pom/@"); err != nil {
		return err
	}
	return e.cachedIfAny(refsDir + "maven/files/" + file + ".jar/@")
}

// crate writes the crate's index file as the upstream sent it, the
// upstream's config.json and the .crate, under packages/cargo/.
func (e *exporter) crate(it prefetch.Item) error {
	if err := e.prefetched(it); err != nil {
		return err
	}
	name := strings.ToLower(it.Name)
	if err := e.cached(refsDir + "cargo/index/" + name); err != nil {
		return err
	}
	if err := e.cachedIfAny(refsDir + "cargo/_upstream/config.json"); err != nil {
		return err
	}
	return e.cached(refsDir + "cargo/crates/" + name + "/" + it.Ref)
}
