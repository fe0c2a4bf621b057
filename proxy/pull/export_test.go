package pull

import "nora/cache"

// Source is the upstream body source of one fill of r, for tests.
func (a Artifacts) Source(r ArtifactRequest) cache.Source { return a.source(r) }
