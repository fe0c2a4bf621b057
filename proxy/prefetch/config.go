package prefetch

import (
	"fmt"
	"os"
	"strings"
)

// Config is one [[prefetch]] entry of nora.toml: a list, from a file or
// inline, fetched on a cron schedule.
type Config struct {
	// File is the path of a list; read at each run, so edits apply
	// without a restart.
	File string `toml:"file"`
	// Items is an inline list, one item a string.
	Items []string `toml:"items"`
	// Schedule is a cron expression ("0 2 * * *") or descriptor
	// ("@daily"); the admin package checks it.
	Schedule string `toml:"schedule"`
	// Platform narrows image indexes, as --platform does.
	Platform string `toml:"platform"`
}

// FieldError is a problem with one key of an entry.
type FieldError struct{ Key, Msg string }

// Check checks what can be checked without running: one of file and
// items, a list that parses (the file's as it is now), a schedule, a
// valid platform. Whether the schedule parses and fires is the admin
// package's to check (admin.ValidateSchedule).
func (c Config) Check() []FieldError {
	var errs []FieldError
	bad := func(key, format string, args ...any) {
		errs = append(errs, FieldError{key, fmt.Sprintf(format, args...)})
	}
	switch {
	case c.File == "" && len(c.Items) == 0:
		bad("file", "set file (a list's path) or items (an inline list)")
	case c.File != "" && len(c.Items) > 0:
		bad("items", "set file or items, not both")
	default:
		if _, err := c.List(); err != nil && c.File != "" {
			bad("file", "%v", err)
		} else if err != nil {
			bad("items", "%v", err)
		}
	}
	if strings.TrimSpace(c.Schedule) == "" {
		bad("schedule", "required: a cron expression such as \"0 2 * * *\"")
	}
	if c.Platform != "" {
		if err := ValidPlatform(c.Platform); err != nil {
			bad("platform", "%v", err)
		}
	}
	return errs
}

// List reads the entry's list: the file's items or the inline ones.
func (c Config) List() ([]Item, error) {
	if c.File == "" {
		return Parse(strings.Join(c.Items, "\n"))
	}
	fi, err := os.Stat(c.File)
	if err != nil {
		return nil, fmt.Errorf("cannot read the prefetch list: %w", err)
	}
	if fi.Size() > MaxListSize {
		return nil, fmt.Errorf("the prefetch list %s is larger than %d bytes", c.File, MaxListSize)
	}
	b, err := os.ReadFile(c.File)
	if err != nil {
		return nil, fmt.Errorf("cannot read the prefetch list: %w", err)
	}
	items, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("the prefetch list %s: %w", c.File, err)
	}
	return items, nil
}
