package npm

import (
	"fmt"
	"time"

	"nora/internal/fault"
)

// UnpublishPolicy says which published versions may be removed.
type UnpublishPolicy string

const (
	// UnpublishNever refuses every unpublish: deprecate instead.
	UnpublishNever UnpublishPolicy = "never"
	// UnpublishWithin72h allows removing versions published less than 72
	// hours ago, the public registry's rule.
	UnpublishWithin72h UnpublishPolicy = "within-72h"
	// UnpublishAlways allows removing any version.
	UnpublishAlways UnpublishPolicy = "always"
)

const unpublishWindow = 72 * time.Hour

// UnmarshalText reads the policy from the config file, refusing unknown
// values there (so the error names the line).
func (p *UnpublishPolicy) UnmarshalText(b []byte) error {
	v := UnpublishPolicy(b)
	if err := v.check(); err != nil {
		return err
	}
	*p = v
	return nil
}

func (p UnpublishPolicy) check() error {
	switch p {
	case UnpublishNever, UnpublishWithin72h, UnpublishAlways:
		return nil
	}
	return fmt.Errorf("unknown unpublish policy %q: want \"never\", \"within-72h\" or \"always\"", string(p))
}

// mayRemove says whether version v of name may be unpublished at now.
func (p UnpublishPolicy) mayRemove(name, ver string, v *Version, now time.Time) error {
	switch p {
	case UnpublishAlways:
		return nil
	case UnpublishWithin72h:
		if now.Sub(v.Published) < unpublishWindow {
			return nil
		}
		return errorf(fault.Denied, "%s@%s was published more than 72 hours ago and this registry only unpublishes newer versions ([npm] unpublish = \"within-72h\"); deprecate it instead", name, ver)
	}
	return errorf(fault.Denied, "this registry does not unpublish ([npm] unpublish = \"never\"); deprecate %s@%s instead", name, ver)
}
