package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is the name of the statistics file in the storage path.
const File = "ui-stats.json"

// maxFile bounds what load reads: 62 days and 5 top lists are a few KiB.
const maxFile = 4 << 20

// saved is the file's content.
type saved struct {
	Days map[string]Day      `json:"days"`
	Top  map[string][]Pulled `json:"top,omitempty"`
}

func (s *Stats) load() error {
	if s.path == "" {
		return nil
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read the statistics: %w", err)
	}
	defer f.Close()
	var v saved
	if err := json.NewDecoder(io.LimitReader(f, maxFile)).Decode(&v); err != nil {
		// Counts are not worth refusing to start over: begin again.
		s.log.Warn("cannot read the statistics; starting from zero", "path", s.path, "err", err)
		return nil
	}
	for k, d := range v.Days {
		if d != nil {
			s.days[k] = d
		}
	}
	for f, ps := range v.Top {
		if i := formatIndex(f); i >= 0 {
			s.top[i].restore(ps)
		}
	}
	return nil
}

// Save adds up the pending counts and writes the file (a temp file,
// synced, renamed over the old one: a power cut leaves the old or the
// new, never half).
func (s *Stats) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked(s.now())
	if s.path == "" {
		return nil
	}
	v := saved{Days: s.days, Top: map[string][]Pulled{}}
	for i, f := range Formats {
		if t := s.top[i].top(TopN); len(t) > 0 {
			v.Top[f] = t
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeAtomic(s.path, s.tmp, b)
}

func writeAtomic(path, tmpDir string, b []byte) (err error) {
	dir := filepath.Dir(path)
	if tmpDir == "" {
		tmpDir = dir
	}
	tmp, err := os.CreateTemp(tmpDir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cannot save the statistics: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err != nil {
		return fmt.Errorf("cannot save the statistics: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("cannot save the statistics: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("cannot save the statistics: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot save the statistics: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
