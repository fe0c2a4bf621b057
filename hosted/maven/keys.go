package maven

// The store keys of hosted Maven state, in one place; the deployed files
// live under the shared cache.BlobKey.

// indexKey holds the hosted directories.
const indexKey = "hosted/maven/index"

// docKey is the state document of directory dir. It ends in "@", a
// character no path segment may hold, so no directory's document can be
// another's directory in the store.
func docKey(dir string) string { return "hosted/maven/dirs/" + dir + "/@" }
