package npm

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// abbreviatedFields are the manifest fields the abbreviated packument
// ("application/vnd.npm.install-v1+json") keeps: what npm install needs
// to resolve a tree.
var abbreviatedFields = []string{
	"name", "version", "dependencies", "optionalDependencies", "devDependencies",
	"bundleDependencies", "bundledDependencies", "peerDependencies", "peerDependenciesMeta",
	"acceptDependencies", "bin", "directories", "engines", "cpu", "os", "libc", "_hasShrinkwrap",
}

// topLevelFields are copied from the latest version to the top of the full
// packument, as the public registry does (npm view and search read them).
var topLevelFields = []string{"description", "license", "homepage", "repository", "keywords", "author", "bugs"}

// timeFormat is the registry's: UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// Packument renders p as npm reads it: the full document, or the
// abbreviated one npm install asks for. Tarball URLs are tarballBase
// followed by "<name>/-/<file>" ("http://nora:4000/npm/" + ...).
func (p *Package) Packument(tarballBase string, abbreviated bool) ([]byte, error) {
	versions := make(map[string]json.RawMessage, len(p.Versions))
	for ver, v := range p.Versions {
		b, err := p.versionDoc(v, tarballBase, abbreviated)
		if err != nil {
			return nil, fmt.Errorf("cannot render %s@%s: %w", p.Name, ver, err)
		}
		versions[ver] = b
	}
	if abbreviated {
		return marshal(struct {
			Name     string                     `json:"name"`
			Modified string                     `json:"modified"`
			DistTags map[string]string          `json:"dist-tags"`
			Versions map[string]json.RawMessage `json:"versions"`
		}{p.Name, p.Modified.UTC().Format(timeFormat), p.DistTags, versions})
	}
	times := map[string]string{"created": p.Created.UTC().Format(timeFormat), "modified": p.Modified.UTC().Format(timeFormat)}
	var maintainers []map[string]string
	seen := map[string]bool{}
	for _, ver := range slices.Sorted(maps.Keys(p.Versions)) {
		v := p.Versions[ver]
		times[ver] = v.Published.UTC().Format(timeFormat)
		if v.Publisher != "" && !seen[v.Publisher] {
			seen[v.Publisher] = true
			maintainers = append(maintainers, map[string]string{"name": v.Publisher})
		}
	}
	doc := map[string]any{
		"_id": p.Name, "_rev": p.RevString(), "name": p.Name,
		"dist-tags": p.DistTags, "versions": versions, "time": times,
	}
	if maintainers != nil {
		doc["maintainers"] = maintainers
	}
	if _, latest := p.Latest(); latest != nil {
		var m map[string]json.RawMessage
		if json.Unmarshal(latest.Manifest, &m) == nil {
			for _, k := range topLevelFields {
				if v, ok := m[k]; ok {
					doc[k] = v
				}
			}
		}
		doc["readme"] = latest.Readme
		if latest.ReadmeFilename != "" {
			doc["readmeFilename"] = latest.ReadmeFilename
		}
	}
	return marshal(doc)
}

func (p *Package) versionDoc(v *Version, tarballBase string, abbreviated bool) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v.Manifest, &m); err != nil {
		return nil, err
	}
	if abbreviated {
		keep := make(map[string]json.RawMessage, len(abbreviatedFields)+3)
		for _, k := range abbreviatedFields {
			if val, ok := m[k]; ok {
				keep[k] = val
			}
		}
		if hasInstallScript(m["scripts"]) {
			keep["hasInstallScript"] = json.RawMessage("true")
		}
		m = keep
	}
	dist, err := marshal(map[string]string{
		"integrity": v.Integrity, "shasum": v.Shasum, "tarball": tarballBase + p.Name + "/-/" + v.File,
	})
	if err != nil {
		return nil, err
	}
	m["dist"] = dist
	if v.Deprecated != "" {
		if m["deprecated"], err = marshal(v.Deprecated); err != nil {
			return nil, err
		}
	}
	if !abbreviated && v.Publisher != "" {
		if m["_npmUser"], err = marshal(map[string]string{"name": v.Publisher}); err != nil {
			return nil, err
		}
	}
	return marshal(m)
}

// hasInstallScript reports whether scripts run at install time, which the
// abbreviated packument announces.
func hasInstallScript(scripts json.RawMessage) bool {
	var s map[string]json.RawMessage
	if json.Unmarshal(scripts, &s) != nil {
		return false
	}
	for _, k := range []string{"preinstall", "install", "postinstall"} {
		if _, ok := s[k]; ok {
			return true
		}
	}
	return false
}

// DistTagsJSON renders the dist-tags object (GET /-/package/<name>/dist-tags).
func (p *Package) DistTagsJSON() ([]byte, error) { return marshal(p.DistTags) }
