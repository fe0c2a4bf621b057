package cargo

// The cache keys of the cargo proxy, in one place; the .crate bytes live
// under the shared cache.BlobKey. Crate names never start with "_", so
// "_upstream" cannot collide with anything a request names.

// configKey is the ref of the upstream index's config.json.
const configKey = "refs/cargo/_upstream/config.json"

// indexKey is the ref of the upstream index file of crate name
// (lowercased).
func indexKey(name string) string { return "refs/cargo/index/" + name }

// crateKey is the ref of the .crate of crate name (lowercased) version
// vers.
func crateKey(name, vers string) string { return "refs/cargo/crates/" + name + "/" + vers }
