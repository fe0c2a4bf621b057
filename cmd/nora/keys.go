package main

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// docIndex records where each key of a TOML document is and what kind of
// value it holds, so that problems found after decoding still point at a
// line. Keys are dotted paths, entries of arrays of tables indexed:
// "storage.max_size", "docker.upstreams[1].url"; a table header is recorded
// under the table's path ("docker.upstreams[1]").
type docIndex map[string]docKey

type docKey struct {
	line int
	kind unstable.Kind // of the value; Table or ArrayTable for a header
	text string        // the value as decoded, for scalars
}

// indexKeys indexes doc as far as it parses; the decoder reports syntax
// errors.
func indexKeys(doc []byte) docIndex {
	idx := docIndex{}
	entries := map[string]int{} // array of tables -> entries so far
	var p unstable.Parser
	p.Reset(doc)
	table := ""
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			it := n.Key()
			line, path := 0, ""
			for it.Next() {
				k := it.Node()
				if line == 0 {
					line = p.Shape(k.Raw).Start.Line
				}
				path = joinKey(path, string(k.Data))
				if n.Kind == unstable.ArrayTable && it.IsLast() {
					i := entries[path]
					entries[path] = i + 1
					path = fmt.Sprintf("%s[%d]", path, i)
				} else if i, ok := entries[path]; ok {
					// A table under an array of tables belongs to its last entry.
					path = fmt.Sprintf("%s[%d]", path, i-1)
				}
			}
			table = path
			idx[path] = docKey{line: line, kind: n.Kind}
		case unstable.KeyValue:
			idx.addKeyValue(&p, table, n)
		}
	}
	return idx
}

func (idx docIndex) addKeyValue(p *unstable.Parser, table string, n *unstable.Node) {
	path, line := table, 0
	for it := n.Key(); it.Next(); {
		k := it.Node()
		if line == 0 {
			line = p.Shape(k.Raw).Start.Line
		}
		path = joinKey(path, string(k.Data))
	}
	v := n.Value()
	idx[path] = docKey{line: line, kind: v.Kind, text: string(v.Data)}
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				idx.addKeyValue(p, path, c)
			}
		}
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			if c.Kind == unstable.InlineTable {
				for kv := c.Children(); kv.Next(); {
					if e := kv.Node(); e.Kind == unstable.KeyValue {
						idx.addKeyValue(p, fmt.Sprintf("%s[%d]", path, i), e)
					}
				}
			}
			i++
		}
	}
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// line returns the line of key or, failing that, of the nearest enclosing
// table written in the document; 0 if none is.
func (idx docIndex) line(key string) int {
	for key != "" {
		if k, ok := idx[key]; ok {
			return k.line
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

var entryIndex = regexp.MustCompile(`\[[0-9]+\]`)

// resolve returns the indexed form of a key that go-toml reports without
// the entry of its array of tables ("docker.upstreams.ttl" on line 9 is
// "docker.upstreams[1].ttl").
func (idx docIndex) resolve(key []string, line int) string {
	k := strings.Join(key, ".")
	if _, ok := idx[k]; ok {
		return k
	}
	for ik, v := range idx {
		if v.line == line && entryIndex.ReplaceAllString(ik, "") == k {
			return ik
		}
	}
	// go-toml drops the tables between an array of tables and a key
	// inside an inline table ("tenants.burst" for rate_limit = { burst = 2 }
	// in [[tenants]]): the one key of the line under the same section with
	// the same last part.
	found := ""
	for ik, v := range idx {
		if v.line == line && len(key) > 1 && strings.HasPrefix(ik, key[0]+"[") && strings.HasSuffix(ik, "."+key[len(key)-1]) {
			if found != "" {
				return k
			}
			found = ik
		}
	}
	if found != "" {
		return found
	}
	return k
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// checkValueTypes requires quoted strings for the keys whose Go type parses
// text (units.Duration, units.Size). go-toml would store a bare integer
// straight into the underlying int64 without UnmarshalText, so that
// `ttl = 30` would mean 30ns and `max_size = -1` would pass.
func checkValueTypes(name string, idx docIndex, cfg *fileConfig) error {
	type problem struct {
		line int
		err  error
	}
	var found []problem
	root := reflect.TypeOf(cfg).Elem()
	for key, k := range idx {
		t, ok := typeAt(root, key)
		if !ok || k.kind == unstable.String || !reflect.PointerTo(t).Implements(textUnmarshaler) {
			continue
		}
		last := key[strings.LastIndexByte(key, '.')+1:]
		found = append(found, problem{k.line, fmt.Errorf("%s:%d: %s: want a quoted string, got a TOML %s (write %s = %q)",
			name, k.line, key, strings.ToLower(k.kind.String()), last, k.text)})
	}
	slices.SortFunc(found, func(a, b problem) int { return a.line - b.line })
	errs := make([]error, len(found))
	for i, p := range found {
		errs[i] = p.err
	}
	return errors.Join(errs...)
}

// typeAt resolves a dotted key of the document to the Go type it decodes
// into; false for keys the config does not have (the decoder reports those).
func typeAt(t reflect.Type, key string) (reflect.Type, bool) {
	for part := range strings.SplitSeq(key, ".") {
		name, indexed := part, false
		if i := strings.IndexByte(part, '['); i >= 0 {
			name, indexed = part[:i], true
		}
		f, ok := fieldByTag(t, name)
		if !ok {
			return nil, false
		}
		t = f.Type
		if indexed {
			if t.Kind() != reflect.Slice {
				return nil, false
			}
			t = t.Elem()
		}
	}
	return t, true
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if f := t.Field(i); tomlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// tomlName is the key of a struct field in the file; "" for fields the file
// cannot set.
func tomlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" {
		return ""
	}
	return name
}
