package prefetch

import "fmt"

// NpmVersion is the version an npm item's Ref picks, by the rule of
// prefetch: a dist-tag ("" is latest), else the highest version matching
// the range. nora export resolves its npm lines with it.
func NpmVersion(distTags map[string]string, versions []string, ref string) (string, error) {
	tag := ref
	if tag == "" {
		tag = "latest"
	}
	if v, ok := distTags[tag]; ok {
		return v, nil
	}
	if ref == "" || isTag(ref) {
		return "", fmt.Errorf("no dist-tag %q: %w", tag, errNoVersion)
	}
	r, err := parseRange(ref)
	if err != nil {
		return "", err
	}
	v, ok := highest(r, versions)
	if !ok {
		return "", fmt.Errorf("no version matches %q: %w", ref, errNoVersion)
	}
	return v, nil
}

// PyPIName is a project name as PEP 503 compares them (and nora keys it).
func PyPIName(name string) string { return normalize(name) }

// PyPIFileOf tells whether filename is a distribution of project's
// version, as prefetch picks them.
func PyPIFileOf(filename, project, ver string) bool { return fileOf(filename, project, ver) }
