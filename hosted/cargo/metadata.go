package cargo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The publish metadata is the JSON cargo sends ahead of the .crate (the
// crates-io crate's NewCrate). It is decoded field by field: every field
// nora knows must have its type, the ones the index needs must be present,
// and a key that differs from a known one only in case is refused (Go's
// decoder would otherwise match it silently). Unknown keys are tolerated:
// newer cargos add fields, and refusing them would break publishing.

// Limits on what one version may declare; cargo and crates.io stay far
// below them.
const (
	maxDeps         = 2048
	maxFeatures     = 2048
	maxFeatureRefs  = 1024 // values of one feature, features of one dep
	maxTokenLen     = 256  // feature names and values, links, kinds
	maxTargetLen    = 1024 // a cfg(...) expression
	maxRegistryLen  = 1024
	maxArtifactRefs = 64
)

// IndexEntry is one line of an index file: one version of a crate, in the
// format cargo reads (the crates.io index schema, v 1 to 3).
type IndexEntry struct {
	Name     string              `json:"name"`
	Vers     string              `json:"vers"`
	Deps     []IndexDep          `json:"deps"`
	Cksum    string              `json:"cksum"`
	Features map[string][]string `json:"features"`
	// Features2 holds the features whose values use the syntax older
	// cargos cannot read (dep:x, x?/y), with V 2.
	Features2   map[string][]string `json:"features2,omitempty"`
	Yanked      bool                `json:"yanked"`
	Links       *string             `json:"links"`
	RustVersion *string             `json:"rust_version,omitempty"`
	V           int                 `json:"v,omitempty"`
	// Pubtime is when the version was published (UTC, to the second).
	Pubtime string `json:"pubtime,omitempty"`
}

// IndexDep is one dependency in an index line.
type IndexDep struct {
	// Name is the name the dependent uses (the rename, if any); Package
	// then holds the real crate name.
	Name            string   `json:"name"`
	Req             string   `json:"req"`
	Features        []string `json:"features"`
	Optional        bool     `json:"optional"`
	DefaultFeatures bool     `json:"default_features"`
	Target          *string  `json:"target"`
	Kind            string   `json:"kind"`
	// Registry is the index URL of another registry; null means this one.
	Registry     *string  `json:"registry"`
	Package      *string  `json:"package,omitempty"`
	Artifact     []string `json:"artifact,omitempty"`
	BindepTarget *string  `json:"bindep_target,omitempty"`
	Lib          bool     `json:"lib,omitempty"`
}

// field is one known key of a JSON object: where to decode it and whether
// it must be present (and not null).
type field struct {
	dst      any
	required bool
}

// decodeObject decodes the JSON object b into fields.
func decodeObject(b []byte, what string, fields map[string]field) error {
	raw, err := objectMembers(b)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for key, v := range raw {
		f, known := fields[key]
		if !known {
			for k := range fields {
				if strings.EqualFold(k, key) {
					return fmt.Errorf("%s: unknown key %q (did you mean %q?)", what, key, k)
				}
			}
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return fmt.Errorf("%s: %s: %w", what, key, err)
		}
	}
	for key, f := range fields {
		if v, ok := raw[key]; f.required && (!ok || string(v) == "null") {
			return fmt.Errorf("%s: %s is missing", what, key)
		}
	}
	return nil
}

// objectMembers splits the JSON object b into its members, refusing a key
// that appears twice (which one counts would be up to the reader) and
// anything after the object.
func objectMembers(b []byte) (_ map[string]json.RawMessage, err error) {
	defer func() {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("the JSON ends early")
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := raw[key]; dup {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		raw[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON object")
	}
	return raw, nil
}

// parseMetadata decodes and validates the publish metadata and returns the
// index line it makes (without cksum and pubtime).
func parseMetadata(b []byte) (IndexEntry, error) {
	var (
		e        IndexEntry
		deps     []json.RawMessage
		features map[string][]string
		// Informational fields: not indexed, but their types are checked.
		authors, keywords, categories                []string
		description, documentation, homepage, readme *string
		readmeFile, license, licenseFile, repository *string
		badges                                       map[string]map[string]string
	)
	err := decodeObject(b, "publish metadata", map[string]field{
		"name":          {&e.Name, true},
		"vers":          {&e.Vers, true},
		"deps":          {&deps, true},
		"features":      {&features, true},
		"links":         {&e.Links, false},
		"rust_version":  {&e.RustVersion, false},
		"authors":       {&authors, false},
		"description":   {&description, false},
		"documentation": {&documentation, false},
		"homepage":      {&homepage, false},
		"readme":        {&readme, false},
		"readme_file":   {&readmeFile, false},
		"keywords":      {&keywords, false},
		"categories":    {&categories, false},
		"license":       {&license, false},
		"license_file":  {&licenseFile, false},
		"repository":    {&repository, false},
		"badges":        {&badges, false},
	})
	if err != nil {
		return e, err
	}
	if err := checkEntry(e); err != nil {
		return e, err
	}
	if e.Deps, err = parseDeps(deps); err != nil {
		return e, err
	}
	for _, d := range e.Deps {
		if d.Artifact != nil || d.BindepTarget != nil || d.Lib {
			e.V = 3
		}
	}
	if e.Features, e.Features2, err = parseFeatures(features); err != nil {
		return e, err
	}
	if e.Features2 != nil && e.V < 2 {
		e.V = 2
	}
	return e, nil
}

// checkEntry checks the crate's own fields of the metadata.
func checkEntry(e IndexEntry) error {
	switch {
	case !ValidName(e.Name):
		return fmt.Errorf("invalid crate name %q: ASCII letters, digits, '-' and '_', starting with a letter, at most %d characters", e.Name, maxNameLen)
	case !validVersion(e.Vers):
		return fmt.Errorf("invalid version %q: not a semver version", e.Vers)
	case e.Links != nil && !validToken(*e.Links, maxTokenLen):
		return fmt.Errorf("invalid links %q", *e.Links)
	case e.RustVersion != nil && !validRustVersion(*e.RustVersion):
		return fmt.Errorf("invalid rust_version %q", *e.RustVersion)
	}
	return nil
}

// parseDeps decodes the metadata's dependencies into their index form.
func parseDeps(deps []json.RawMessage) ([]IndexDep, error) {
	if len(deps) > maxDeps {
		return nil, fmt.Errorf("%d dependencies, at most %d", len(deps), maxDeps)
	}
	out := make([]IndexDep, 0, len(deps))
	for i, raw := range deps {
		d, err := parseDep(raw, i)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// parseFeatures checks the metadata's features and splits them into the
// index's features and features2: cargos before 1.19 fail on the whole
// file when they meet the newer syntax in features, so features2 keeps it
// from them (nil when there is none).
func parseFeatures(features map[string][]string) (plain, newer map[string][]string, err error) {
	if len(features) > maxFeatures {
		return nil, nil, fmt.Errorf("%d features, at most %d", len(features), maxFeatures)
	}
	plain = map[string][]string{}
	for name, values := range features {
		if !validToken(name, maxTokenLen) {
			return nil, nil, fmt.Errorf("invalid feature name %q", name)
		}
		if len(values) > maxFeatureRefs {
			return nil, nil, fmt.Errorf("feature %s: %d values, at most %d", name, len(values), maxFeatureRefs)
		}
		if values == nil {
			values = []string{}
		}
		for _, v := range values {
			if !validToken(v, maxTokenLen) {
				return nil, nil, fmt.Errorf("feature %s: invalid value %q", name, v)
			}
		}
		if !newFeatureSyntax(values) {
			plain[name] = values
			continue
		}
		if newer == nil {
			newer = map[string][]string{}
		}
		newer[name] = values
	}
	return plain, newer, nil
}

func newFeatureSyntax(values []string) bool {
	for _, v := range values {
		if strings.HasPrefix(v, "dep:") || strings.Contains(v, "?/") {
			return true
		}
	}
	return false
}

// parseDep decodes dependency i of the publish metadata into its index
// form: version_req becomes req, and a renamed dependency
// (explicit_name_in_toml) is listed under the name the dependent uses with
// the real crate name in package.
func parseDep(b []byte, i int) (IndexDep, error) {
	var (
		d        IndexDep
		name     string
		rename   *string
		features []string
	)
	what := fmt.Sprintf("dependency %d", i)
	err := decodeObject(b, what, map[string]field{
		"name":                  {&name, true},
		"version_req":           {&d.Req, true},
		"features":              {&features, true},
		"optional":              {&d.Optional, true},
		"default_features":      {&d.DefaultFeatures, true},
		"target":                {&d.Target, false},
		"kind":                  {&d.Kind, true},
		"registry":              {&d.Registry, false},
		"explicit_name_in_toml": {&rename, false},
		"artifact":              {&d.Artifact, false},
		"bindep_target":         {&d.BindepTarget, false},
		"lib":                   {&d.Lib, false},
	})
	if err != nil {
		return d, err
	}
	if !ValidName(name) {
		return d, fmt.Errorf("%s: invalid crate name %q", what, name)
	}
	what = "dependency " + name
	if !validReq(d.Req) {
		return d, fmt.Errorf("%s: invalid version requirement %q", what, d.Req)
	}
	switch d.Kind {
	case "normal", "dev", "build":
	default:
		return d, fmt.Errorf("%s: invalid kind %q (normal, dev or build)", what, d.Kind)
	}
	if len(features) > maxFeatureRefs {
		return d, fmt.Errorf("%s: %d features, at most %d", what, len(features), maxFeatureRefs)
	}
	d.Features = make([]string, 0, len(features))
	for _, f := range features {
		if !validToken(f, maxTokenLen) {
			return d, fmt.Errorf("%s: invalid feature %q", what, f)
		}
		d.Features = append(d.Features, f)
	}
	if d.Target != nil && !validText(*d.Target, maxTargetLen) {
		return d, fmt.Errorf("%s: invalid target %q", what, *d.Target)
	}
	if d.Registry != nil && !validToken(*d.Registry, maxRegistryLen) {
		return d, fmt.Errorf("%s: invalid registry %q", what, *d.Registry)
	}
	if len(d.Artifact) > maxArtifactRefs {
		return d, fmt.Errorf("%s: %d artifacts, at most %d", what, len(d.Artifact), maxArtifactRefs)
	}
	for _, a := range d.Artifact {
		if !validToken(a, maxTokenLen) {
			return d, fmt.Errorf("%s: invalid artifact %q", what, a)
		}
	}
	if d.BindepTarget != nil && !validText(*d.BindepTarget, maxTargetLen) {
		return d, fmt.Errorf("%s: invalid bindep_target %q", what, *d.BindepTarget)
	}
	d.Name = name
	if rename != nil {
		if !ValidName(*rename) {
			return d, fmt.Errorf("%s: invalid explicit_name_in_toml %q", what, *rename)
		}
		if *rename != name {
			pkg := name
			d.Name, d.Package = *rename, &pkg
		}
	}
	return d, nil
}

// validToken reports whether s is non-empty, at most max bytes, and
// printable ASCII without spaces or quotes: feature names and values,
// link names, registry URLs.
func validToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validText reports whether s is non-empty, at most max bytes, valid
// UTF-8 without control characters: a cfg(...) target expression.
func validText(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
