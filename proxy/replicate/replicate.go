// Package replicate copies hosted images and packages between two noras,
// or from an external registry into a nora (`nora replicate`, the
// [replication] schedules): idempotent (what the target holds is not sent
// again) and resumable (a run cut off is completed by the next one).
//
// A run lists the items of the source that match, then copies each with
// the Mover of its format, through the formats' own wire APIs: the OCI
// distribution API for images (blob by blob, a blob the target has is not
// sent), the publish APIs of npm, PyPI, Maven and cargo for packages.
package replicate

import (
	"context"
	"net/http"
)

// Endpoint is one side of a run: a nora's base URL (its public URL, or the
// in-process listener for the local nora) and the credentials to use.
type Endpoint struct {
	// Name is the remote's name in [[replication.remotes]], "local" for
	// this nora, or a docker upstream's name (an external registry).
	Name string
	// URL is the base URL ("https://hub.example.internal"), without a
	// format's path.
	URL string
	// Token is sent as a Bearer token (an API token of that nora); "":
	// none. Client carries any other credentials.
	Token  string
	Client *http.Client
	// Prefix is put before every item's name on this side ("local/mirror/"):
	// Run sets it on the target from Options.TargetPrefix.
	Prefix string
}

// Item is one image tag or package version a run copies.
type Item struct {
	Format  string `json:"format"`  // "docker", "npm", "pypi", "maven", "cargo"
	Name    string `json:"name"`    // repository or package name, as its format's rules name it
	Version string `json:"version"` // tag or version
	// Size is the bytes of the item as the source lists it (0: unknown).
	Size int64 `json:"size,omitempty"`
}

// Copied is what copying one item did.
type Copied struct {
	// Bytes is what was sent to the target (0: it had everything).
	Bytes int64 `json:"bytes"`
	// Skipped is true when the target already held the item whole.
	Skipped bool `json:"skipped"`
}

// Mover replicates the items of one format.
type Mover interface {
	// Format is the format word of the items it moves.
	Format() string
	// List lists the items of src whose name (and version) match.
	List(ctx context.Context, src Endpoint, match func(name, version string) bool) ([]Item, error)
	// Copy copies it from src to dst (with dry, only reports what it
	// would send). progress, if not nil, hears of bytes as they are sent.
	Copy(ctx context.Context, src, dst Endpoint, it Item, dry bool, progress func(n int64)) (Copied, error)
}
