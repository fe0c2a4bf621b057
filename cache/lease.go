package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"nora/internal/fault"
)

// LeasePrefix holds the lease records of instances sharing a store: state
// of the running instances, which migrate and backup need not copy.
const LeasePrefix = "leases/"

// LeaseKey is the store object that names the one instance running
// eviction and GC on a store that several instances share.
const LeaseKey = LeasePrefix + "maintenance"

// LeaseTTL is how long a lease record may stay unchanged before another
// instance takes it over: its holder renews it every LeaseTTL/3.
const LeaseTTL = 30 * time.Second

// leaseMax bounds the lease record read from the store.
const leaseMax = 4 << 10

// ErrLeaseHeld is GC's answer on an instance that does not hold the
// maintenance lease: eviction and GC run on the holder only.
var ErrLeaseHeld = fault.New(fault.Conflict, "another nora instance holds the maintenance lease")

// leaseRecord is the lease object's content.
type leaseRecord struct {
	Holder string `json:"holder"` // "" once released
	// Expires is when the holder's term ends by its own clock; others
	// show it, but judge expiry by their own clock (see Lease).
	Expires time.Time `json:"expires"`
}

// Lease is the maintenance lease on a shared store: taken with the
// store's compare-and-swap (created when absent, renewed while held,
// released on Close). Expiry is judged without trusting clocks to agree:
// a contender takes over only after it has seen the same version of the
// record for a whole LeaseTTL by its own clock, while the holder counts
// its term from the moment it sent its last successful renewal, so the
// two terms never overlap. On a store that is not shared (nil sw) the
// lease is always held and no record is written.
type Lease struct {
	sw  Swapper
	key string
	id  string
	ttl time.Duration

	stepMu sync.Mutex // orders step and release; held over store calls

	mu        sync.Mutex // guards the rest; never held over a store call
	now       func() time.Time
	heldUntil time.Time   // by our clock; zero when not held
	other     leaseRecord // the other holder, as last read
	seenVer   string      // version of the other's record
	seenAt    time.Time   // when we first read seenVer
}

// newLease returns the lease on store: trivially held unless shared.
func newLease(store Store, shared bool) *Lease {
	l := &Lease{key: LeaseKey, id: instanceID(), ttl: LeaseTTL, now: time.Now}
	if sw, ok := store.(Swapper); ok && shared {
		l.sw = sw
	}
	return l
}

// instanceID names this process in the lease: host and pid for people,
// random bytes so that a restarted process is another holder.
func instanceID() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Shared reports whether the lease is a record in the store.
func (l *Lease) Shared() bool { return l.sw != nil }

// ID names this instance in the lease record.
func (l *Lease) ID() string { return l.id }

// Held reports whether this instance holds the lease now.
func (l *Lease) Held() bool {
	if l.sw == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now().Before(l.heldUntil)
}

// Holder names the instance that held the lease when it was last read,
// and when its term ends by that instance's clock ("" if none is known).
func (l *Lease) Holder() (string, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sw == nil || l.now().Before(l.heldUntil) {
		return l.id, l.heldUntil
	}
	return l.other.Holder, l.other.Expires
}

// Check is nil while this instance holds the lease, else ErrLeaseHeld
// naming the holder: eviction, GC and retention run there.
func (l *Lease) Check() error {
	if l.Held() {
		return nil
	}
	return l.errHeld()
}

// errHeld words ErrLeaseHeld with the holder.
func (l *Lease) errHeld() error {
	who, until := l.Holder()
	if who == "" {
		return fmt.Errorf("%w: no holder is known yet; try again in %s", ErrLeaseHeld, l.ttl/3)
	}
	return fmt.Errorf("%w: %s, until %s unless it renews it; eviction, GC and retention run there",
		ErrLeaseHeld, who, until.UTC().Format(time.RFC3339))
}

// step takes, renews or keeps waiting for the lease once, and reports
// whether this instance holds it afterwards. A store error leaves the
// term to end by itself.
func (l *Lease) step(ctx context.Context) (bool, error) {
	if l.sw == nil {
		return true, nil
	}
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	start := l.clock()
	rec, ver, err := l.read(ctx)
	if err != nil {
		return l.Held(), err
	}
	if rec.Holder != "" && rec.Holder != l.id && !l.expired(rec, ver, start) {
		return false, nil
	}
	b, _ := json.Marshal(leaseRecord{Holder: l.id, Expires: start.Add(l.ttl)})
	err = l.sw.PutIf(ctx, l.key, b, ver)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case errors.Is(err, ErrChanged):
		l.heldUntil, l.seenVer = time.Time{}, "" // another came first: read it next time
		return false, nil
	case err != nil:
		return l.now().Before(l.heldUntil), fmt.Errorf("cannot renew the maintenance lease: %w", err)
	}
	// A margin of a third of the term for work begun just before it ends.
	l.heldUntil = start.Add(l.ttl - l.ttl/3)
	l.other, l.seenVer = leaseRecord{}, ""
	return true, nil
}

func (l *Lease) clock() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now()
}

// expired notes another holder's record read at start and reports whether
// it has stayed unchanged for a whole term: its holder is gone.
func (l *Lease) expired(rec leaseRecord, ver string, start time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heldUntil = time.Time{}
	if ver != l.seenVer {
		l.other, l.seenVer, l.seenAt = rec, ver, start
		return false
	}
	return start.Sub(l.seenAt) >= l.ttl
}

// read returns the record and its version; none is version "".
func (l *Lease) read(ctx context.Context) (leaseRecord, string, error) {
	var rec leaseRecord
	b, ver, err := l.sw.ReadVersion(ctx, l.key, leaseMax)
	if errors.Is(err, ErrNotFound) {
		return rec, "", nil
	}
	if err != nil {
		return rec, "", fmt.Errorf("cannot read the maintenance lease: %w", err)
	}
	if json.Unmarshal(b, &rec) != nil {
		// Unreadable: an unknown holder, taken over once it stays so.
		rec = leaseRecord{Holder: "unreadable record"}
	}
	return rec, ver, nil
}

// release gives the lease up if this instance holds it, so another takes
// it over at its next step instead of after a whole term.
func (l *Lease) release(ctx context.Context) error {
	if l.sw == nil {
		return nil
	}
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	l.mu.Lock()
	l.heldUntil = time.Time{}
	l.mu.Unlock()
	rec, ver, err := l.read(ctx)
	if err != nil || rec.Holder != l.id {
		return err
	}
	b, _ := json.Marshal(leaseRecord{})
	if err := l.sw.PutIf(ctx, l.key, b, ver); err != nil && !errors.Is(err, ErrChanged) {
		return fmt.Errorf("cannot release the maintenance lease: %w", err)
	}
	return nil
}
