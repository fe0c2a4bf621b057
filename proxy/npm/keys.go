package npm

// Cache keys of the proxied registry. A valid name is one segment that
// does not start with "@", or two of which the first does, so the keys
// below cannot collide; the "_" documents are never tarballs (those end in
// .tgz and sit under "-"). Full and abbreviated packuments are different
// upstream documents, cached apart.
const keyPrefix = "refs/npm/"

func docKey(name string, abbreviated bool) string {
	if abbreviated {
		return keyPrefix + name + "/_abbreviated"
	}
	return keyPrefix + name + "/_packument"
}

func tarballKey(name, file string) string {
	return keyPrefix + name + "/-/" + file
}
