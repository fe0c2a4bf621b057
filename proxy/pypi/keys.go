package pypi

// Cache keys of the proxied index. Normalized project names are
// [a-z0-9-]+, so segments that start with "_" cannot collide with a
// project.
const keyPrefix = "refs/pypi/"

func pageKey(project string) string { return keyPrefix + project + "/_page" }

func fileKey(project, filename string) string {
	return keyPrefix + project + "/_files/" + filename
}

func metadataKey(project, filename string) string {
	return keyPrefix + project + "/_metadata/" + filename
}
