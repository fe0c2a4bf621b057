// Package units holds the value types of config files (durations with a
// day suffix, byte sizes with units), so that a format's Config need not
// import the store.
package units

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads Go duration strings ("90s", "5m",
// "24h") from config files and also accepts a day suffix ("90d"). "0" means
// zero; negative values are refused: there are no magic negative numbers.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration parses a Go duration, plus whole days as "<n>d".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var v time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int64
		days, err = strconv.ParseInt(n, 10, 32)
		v = time.Duration(days) * 24 * time.Hour
	} else {
		v, err = time.ParseDuration(s)
	}
	if err != nil {
		return 0, fmt.Errorf("cannot parse duration %q: want a Go duration such as \"90s\", \"5m\", \"24h\" or \"90d\"", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return v, nil
}

// Size is a byte count that reads "200GB", "512MiB", "1024" from config files.
type Size int64

func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

func (s Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"B", 1},
}

// ParseSize parses a byte size with an optional decimal (KB, MB, GB, TB) or
// binary (KiB, MiB, GiB, TiB) unit.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("cannot parse size %q: want a byte count such as \"200GB\" or \"512MiB\"", s)
	}
	return v * mult, nil
}
