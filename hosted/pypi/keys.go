package pypi

// Store keys of the hosted PyPI state. Normalized project names are
// [a-z0-9-]+: "_projects.json" cannot collide with a project's folder.
const (
	keyPrefix   = "hosted/pypi/"
	projectsKey = keyPrefix + "_projects.json"
)

// projectKey is the key of project's document (normalized name).
func projectKey(project string) string { return keyPrefix + project + "/project.json" }
