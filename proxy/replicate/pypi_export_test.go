package replicate

// PyPIFileOf reports whether the distribution file belongs to version.
func PyPIFileOf(file, version string) bool { return pypiSameVersion(pypiVersion(file), version) }
