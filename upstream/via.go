package upstream

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// HeaderVia names the noras a request went through: the sender first, then
// the noras whose requests the sender was serving.
const HeaderVia = "X-Nora-Via"

// StatusLoopDetected answers a request that already went through this nora.
const StatusLoopDetected = http.StatusLoopDetected

// Via is one nora's place in a chain of noras: its instance id, and the ids
// of the downstream noras whose requests it is serving now. Every request
// sent upstream carries them all, so a nora that finds its own id in an
// incoming chain knows the request came round in a loop.
//
// Fills and revalidations outlive the request that started them, on
// contexts of the server's lifetime, so the chain cannot ride on a
// request's context: the set of chains in progress stands in for it. The
// cost: while a nora serves another nora's request, every request it sends
// upstream names that nora too.
type Via struct {
	id string

	mu      sync.Mutex
	serving map[string]int // downstream ids in progress, counted
	chain   atomic.Pointer[string]
}

// NewVia makes a Via with a random instance id.
func NewVia() *Via {
	var b [8]byte
	rand.Read(b[:])
	return newVia(hex.EncodeToString(b[:]))
}

func newVia(id string) *Via {
	v := &Via{id: id, serving: map[string]int{}}
	v.chain.Store(&v.id)
	return v
}

// ID is this nora's instance id.
func (v *Via) ID() string { return v.id }

// Chain is the X-Nora-Via value of a request sent upstream now.
func (v *Via) Chain() string { return *v.chain.Load() }

// Holds reports whether an incoming X-Nora-Via names this nora.
func (v *Via) Holds(incoming []byte) bool {
	for len(incoming) > 0 {
		var id []byte
		id, incoming, _ = bytes.Cut(incoming, []byte{','})
		if string(bytes.TrimSpace(id)) == v.id {
			return true
		}
	}
	return false
}

// Enter notes that a request with the incoming chain is in progress, until
// the returned leave is called.
func (v *Via) Enter(incoming string) (leave func()) {
	ids := parseChain(incoming)
	v.mu.Lock()
	held := ids[:0]
	for _, id := range ids {
		if _, ok := v.serving[id]; ok || len(v.serving) < maxServing {
			v.serving[id]++
			held = append(held, id)
		}
	}
	ids = held
	v.rebuild()
	v.mu.Unlock()
	return func() {
		v.mu.Lock()
		for _, id := range ids {
			if v.serving[id]--; v.serving[id] <= 0 {
				delete(v.serving, id)
			}
		}
		v.rebuild()
		v.mu.Unlock()
	}
}

// rebuild stores the chain from the serving set; the caller holds mu.
func (v *Via) rebuild() {
	if len(v.serving) == 0 {
		v.chain.Store(&v.id)
		return
	}
	ids := make([]string, 0, len(v.serving))
	for id := range v.serving {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := v.id + ", " + strings.Join(ids, ", ")
	v.chain.Store(&s)
}

// parseChain splits an X-Nora-Via value into its ids. Only ids of the
// shape NewVia makes (16 lower-case hex digits) count, at most 32 of them:
// anything else is no nora's, and a client cannot swell the chain every
// upstream request carries.
func parseChain(s string) []string {
	var ids []string
	for part := range strings.SplitSeq(s, ",") {
		if id := strings.TrimSpace(part); validID(id) && len(ids) < 32 {
			ids = append(ids, id)
		}
	}
	return ids
}

// validID reports whether id has the shape of an instance id.
func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// maxServing bounds the downstream ids carried upstream at once: a real
// chain of noras is a handful long; more ids are not added (a loop through
// one of them is then found by the breaker of the nora that repeats, not
// by 508).
const maxServing = 64
