package main

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// envPrefix starts every variable that overrides a key of the file.
const envPrefix = "NORA_"

// envKey is one key of the file that a variable can set.
type envKey struct {
	name string // NORA_STORAGE_S3_BUCKET
	key  string // storage.s3.bucket
	v    reflect.Value
}

// envKeys lists the scalar keys of cfg, tables nested to any depth, in field
// order. Arrays (of tables or of values) and maps are not settable from the
// environment; their variable names are returned in fixed, a name prefix and
// the key each.
func envKeys(cfg *fileConfig) (keys []envKey, fixed [][2]string) {
	var walk func(v reflect.Value, name, key string)
	walk = func(v reflect.Value, name, key string) {
		t := v.Type()
		for i := range t.NumField() {
			k := tomlName(t.Field(i))
			if k == "" {
				continue
			}
			fv, fname, fkey := v.Field(i), name+"_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_")), joinKey(key, k)
			switch {
			case isScalar(fv.Type()),
				// An optional scalar ([npm] enabled): nil means unset.
				fv.Kind() == reflect.Pointer && isScalar(fv.Type().Elem()):
				keys = append(keys, envKey{fname, fkey, fv})
			case fv.Kind() == reflect.Struct:
				walk(fv, fname, fkey)
			default:
				fixed = append(fixed, [2]string{fname, fkey})
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem(), strings.TrimSuffix(envPrefix, "_"), "")
	return keys, fixed
}

func isScalar(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// applyEnv applies the NORA_<SECTION>_<KEY> variables of env (os.Environ
// form) to cfg. It returns the keys it set, each with its variable. A
// variable under a known section that names no scalar key is an error, like
// an unknown key in the file.
func applyEnv(cfg *fileConfig, env []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range env {
		if name, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, envPrefix) {
			vars[name] = val
		}
	}
	keys, fixed := envKeys(cfg)
	set := map[string]string{}
	var errs []error
	for _, k := range keys {
		val, ok := vars[k.name]
		if !ok {
			continue
		}
		delete(vars, k.name)
		if err := setText(k.v, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", k.name, k.key, err))
			continue
		}
		set[k.key] = k.name
	}

	var sections []string
	t := reflect.TypeFor[fileConfig]()
	for i := range t.NumField() {
		if k := tomlName(t.Field(i)); k != "" {
			sections = append(sections, envPrefix+strings.ToUpper(k)+"_")
		}
	}
	var left []string
	for name := range vars {
		left = append(left, name)
	}
	slices.Sort(left)
next:
	for _, name := range left {
		for _, f := range fixed {
			if name == f[0] || strings.HasPrefix(name, f[0]+"_") {
				errs = append(errs, fmt.Errorf("%s: %s cannot be set from the environment, only in the file", name, f[1]))
				continue next
			}
		}
		for _, s := range sections {
			if strings.HasPrefix(name, s) {
				errs = append(errs, fmt.Errorf("%s: no such key in [%s]", name, strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, envPrefix), "_"))))
				continue next
			}
		}
	}
	return set, errors.Join(errs...)
}

// setText sets v from its text form, through UnmarshalText where v's type
// has it.
func setText(v reflect.Value, s string) error {
	if v.Kind() == reflect.Pointer {
		p := reflect.New(v.Type().Elem())
		if err := setText(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot set a %s from text", v.Type())
	}
	return nil
}
