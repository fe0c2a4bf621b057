package auth

import (
	"hash/maphash"

	"github.com/dgraph-io/ristretto/v2"
)

// decisions caches Allowed's answers: every request of a push asks, and a
// rule set of many globs costs more than a map lookup. Keys are hashes of
// the whole question, so a hit allocates nothing; each entry also holds a
// second hash of it under another seed, so that a 64-bit collision cannot
// hand one question's answer to another. The seeds are random per cache:
// no one can aim a name at a collision.
type decisions struct {
	c          *ristretto.Cache[uint64, decision]
	key, check maphash.Seed
}

type decision struct {
	check   uint64
	allowed bool
}

func newDecisions() (*decisions, error) {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, decision]{
		NumCounters: 100_000, MaxCost: 10_000, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		return nil, err
	}
	return &decisions{c: c, key: maphash.MakeSeed(), check: maphash.MakeSeed()}, nil
}

// hashes returns the key and check hashes of a question.
func (d *decisions) hashes(gen uint64, id *Identity, action Action, format, name string) (uint64, uint64) {
	var k, c maphash.Hash
	k.SetSeed(d.key)
	c.SetSeed(d.check)
	writeQuestion(&k, gen, id, action, format, name)
	writeQuestion(&c, gen, id, action, format, name)
	return k.Sum64(), c.Sum64()
}

// writeQuestion writes every input of a decision, each string ended by a
// zero byte (none of them holds one that matters: names are checked by the
// formats, and a NUL in a subject only merges it with the next) and each
// list by its length, so that different questions write different bytes.
func writeQuestion(h *maphash.Hash, gen uint64, id *Identity, action Action, format, name string) {
	writeUint(h, gen)
	h.WriteByte(byte(id.Kind))
	str := func(s string) {
		h.WriteString(s)
		h.WriteByte(0)
	}
	if id.Kind == User {
		// A user's subjects are those of the load gen names.
		str(id.Name)
	} else {
		writeUint(h, uint64(len(id.Subjects)))
		for _, s := range id.Subjects {
			str(s)
		}
	}
	if id.Limit == nil {
		h.WriteByte(0)
	} else {
		h.WriteByte(1)
		writeUint(h, uint64(len(id.Limit)))
		for _, p := range id.Limit {
			str(string(p.Action))
			str(p.Format)
			str(p.Glob)
		}
	}
	str(string(action))
	str(format)
	str(name)
}

func writeUint(h *maphash.Hash, v uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	h.Write(b[:])
}

// get returns the cached decision, if any.
func (d *decisions) get(key, check uint64) (allowed, ok bool) {
	v, hit := d.c.Get(key)
	if !hit || v.check != check {
		return false, false
	}
	return v.allowed, true
}

func (d *decisions) set(key, check uint64, allowed bool) {
	d.c.Set(key, decision{check: check, allowed: allowed}, 1)
}

func (d *decisions) clear() { d.c.Clear() }
func (d *decisions) close() { d.c.Close() }
