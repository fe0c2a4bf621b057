package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gobwas/glob"

	"nora/cache"
	"nora/internal/fault"
)

// Item is one thing a rule may remove: an OCI tag, a Maven SNAPSHOT build.
type Item struct {
	Format     string `json:"format"`     // "oci", "maven": the Key's prefix
	Repository string `json:"repository"` // keep_last counts per repository
	Tag        string `json:"tag"`
	// Created orders the items of a repository and is what older_than
	// compares; zero (state from before nora kept it) is the oldest.
	Created time.Time `json:"created"`
	// What says what removing it removes in reports ("tag" if empty).
	What string `json:"what,omitempty"`
}

// Key names the item in reports: "oci:<repository>:<tag>".
func (it Item) Key() string { return it.Format + ":" + it.Repository + ":" + it.Tag }

// ErrGone is what a Source's RemoveItem returns when the item went away or
// changed (a tag moved, say) since it was listed: it is then skipped, not
// removed and not an error. The listing is stale, hence a Conflict.
var ErrGone = fault.New(fault.Conflict, "item changed or is gone since it was listed")

// Source is hosted state that retention trims.
type Source interface {
	// Items lists every item the rules may remove.
	Items(ctx context.Context) ([]Item, error)
	// RemoveItem removes it, or returns ErrGone.
	RemoveItem(ctx context.Context, it Item) error
}

// Check reports what makes the rule unusable.
func (r Rule) Check() error {
	if r.Match == "" {
		return errors.New("retention rule: match is empty")
	}
	if _, err := glob.Compile(r.Match, '/'); err != nil {
		return fmt.Errorf("retention rule: match %q is not a valid glob: %w", r.Match, err)
	}
	if r.KeepLast < 0 {
		return fmt.Errorf("retention rule %q: keep_last is negative (%d)", r.Match, r.KeepLast)
	}
	if r.OlderThan < 0 {
		return fmt.Errorf("retention rule %q: older_than is negative", r.Match)
	}
	if r.KeepLast == 0 && r.OlderThan == 0 {
		return fmt.Errorf("retention rule %q: set keep_last, older_than or both (with neither it would remove everything it matches)", r.Match)
	}
	return nil
}

// Policy is a compiled list of rules.
type Policy struct {
	rules []compiled
}

type compiled struct {
	Rule
	g *glob.Pattern
}

// Compile checks and compiles rules; their order matters: the first rule
// that matches an item decides about it.
func Compile(rules []Rule) (*Policy, error) {
	p := &Policy{}
	for i, r := range rules {
		if err := r.Check(); err != nil {
			return nil, fmt.Errorf("[[retention]] #%d: %w", i+1, err)
		}
		g, _ := glob.Compile(r.Match, '/')
		p.rules = append(p.rules, compiled{r, g})
	}
	return p, nil
}

// Report is what a retention run removed (or, dry, would remove).
type Report struct {
	DryRun  bool           `json:"dry_run"`
	Removed []cache.GCItem `json:"removed"`
}

// Apply trims each source by the rules: within each repository, the items
// a rule decides about, newest first, keep the first keep_last; each one
// after them is removed if the rule has no older_than or it was created
// before now-older_than. Items no rule matches stay. Dry, it removes
// nothing and reports what it would. A failed removal does not stop the
// run; the errors are returned together with the report.
func (p *Policy) Apply(ctx context.Context, now time.Time, dryRun bool, sources ...Source) (Report, error) {
	rep := Report{DryRun: dryRun, Removed: []cache.GCItem{}}
	if len(p.rules) == 0 {
		return rep, nil
	}
	var errs []error
	for _, src := range sources {
		items, err := src.Items(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot list items for retention: %w", err))
			continue
		}
		for _, it := range p.doomed(items, now) {
			if err := ctx.Err(); err != nil {
				return rep, errors.Join(append(errs, err)...)
			}
			if !dryRun {
				err := src.RemoveItem(ctx, it)
				if errors.Is(err, ErrGone) {
					continue
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("cannot remove %s: %w", it.Key(), err))
					continue
				}
			}
			rep.Removed = append(rep.Removed, cache.GCItem{Key: it.Key(), What: cmp.Or(it.What, "tag")})
		}
	}
	return rep, errors.Join(errs...)
}

// doomed returns the items the rules remove, by repository, newest first.
func (p *Policy) doomed(items []Item, now time.Time) []Item {
	type group struct {
		format, repo string
		rule         int
	}
	groups := map[group][]Item{}
	for _, it := range items {
		name := it.Repository + "/" + it.Tag
		for i, r := range p.rules {
			if r.g.Match(name) {
				k := group{it.Format, it.Repository, i}
				groups[k] = append(groups[k], it)
				break
			}
		}
	}
	keys := make([]group, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b group) int {
		return cmp.Or(strings.Compare(a.format, b.format), strings.Compare(a.repo, b.repo), cmp.Compare(a.rule, b.rule))
	})
	var out []Item
	for _, k := range keys {
		g, r := groups[k], p.rules[k.rule]
		// Newest first; equal times by tag, so runs agree with each other.
		slices.SortFunc(g, func(a, b Item) int {
			return cmp.Or(b.Created.Compare(a.Created), strings.Compare(b.Tag, a.Tag))
		})
		cutoff := now.Add(-r.OlderThan.D())
		for _, it := range g[min(r.KeepLast, len(g)):] {
			if r.OlderThan == 0 || it.Created.Before(cutoff) {
				out = append(out, it)
			}
		}
	}
	return out
}
