package ui

import (
	"fmt"
	"strconv"
	"time"
)

// Bytes is n for people: "0 B", "512 B", "1.5 kB", "23 MB", "1.20 GB"
// (powers of 1000, as disks are sold).
func Bytes(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB", "PB"} {
		v /= 1000
		if v < 999.95 || u == "PB" {
			switch {
			case v < 10:
				return fmt.Sprintf("%.2f %s", v, u)
			case v < 100:
				return fmt.Sprintf("%.1f %s", v, u)
			}
			return fmt.Sprintf("%.0f %s", v, u)
		}
	}
	return "" // not reached
}

// Percent is r (0..1) as "87.5 %"; ok false (no data) is "no data".
func Percent(r float64, ok bool) string {
	if !ok {
		return "no data"
	}
	return strconv.FormatFloat(r*100, 'f', 1, 64) + " %"
}

// Ago is how long before now t was: "just now", "5 minutes ago", "3 hours
// ago", "2 days ago"; a zero t is "never".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return plural(int64(d/time.Second), "second") + " ago"
	case d < time.Hour:
		return plural(int64(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int64(d/time.Hour), "hour") + " ago"
	}
	return plural(int64(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}
