package cargo

import "strings"

// The store keys of hosted cargo state, in one place; the .crate files
// live under the shared cache.BlobKey.

// namesKey holds every hosted crate name.
const namesKey = "hosted/cargo/names"

// indexKey is the index file of hosted crate name (any case).
func indexKey(name string) string { return "hosted/cargo/index/" + strings.ToLower(name) }
