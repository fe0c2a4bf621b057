package cargo

import (
	"encoding/json"
	"errors"
	"strings"
)

// maxConfigBytes caps the upstream's config.json.
const maxConfigBytes = 64 << 10

// registryConfig is an index's config.json.
type registryConfig struct {
	DL           string `json:"dl"`
	API          string `json:"api,omitempty"`
	AuthRequired bool   `json:"auth-required,omitempty"`
}

// parseRegistryConfig reads an upstream config.json; only dl matters to a
// pull-through cache.
func parseRegistryConfig(b []byte) (registryConfig, error) {
	var c registryConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	if strings.TrimSpace(c.DL) == "" {
		return c, errors.New("config.json has no dl")
	}
	return c, nil
}

// The markers a dl template may hold (cargo's registry index format).
var dlMarkers = []string{"{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}"}

// expandDL is the download URL of crate name (as the index spells it)
// version vers with checksum cksum, from an upstream's dl value: with no
// marker, "/{crate}/{version}/download" is appended; otherwise the markers
// are replaced. name, vers and cksum are validated, so they need no
// escaping.
func expandDL(dl, name, vers, cksum string) string {
	marked := false
	for _, m := range dlMarkers {
		if strings.Contains(dl, m) {
			marked = true
			break
		}
	}
	if !marked {
		return strings.TrimSuffix(dl, "/") + "/" + name + "/" + vers + "/download"
	}
	p := prefix(name)
	return strings.NewReplacer(
		"{crate}", name,
		"{version}", vers,
		"{prefix}", p,
		"{lowerprefix}", strings.ToLower(p),
		"{sha256-checksum}", cksum,
	).Replace(dl)
}
