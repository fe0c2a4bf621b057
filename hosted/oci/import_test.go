package oci_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/hosted/oci"
)

// legacyDB writes a hosted.db as the nora before this one kept it: one
// bbolt bucket per repository under "repos", records as JSON, links as
// size and time (or the size only, from older still).
func legacyDB(t *testing.T, path string, records map[string]map[string]map[string][]byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o640, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		repos, err := tx.CreateBucket([]byte("repos"))
		if err != nil {
			return err
		}
		for name, subs := range records {
			b, err := repos.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for sub, kv := range subs {
				s, err := b.CreateBucket([]byte(sub))
				if err != nil {
					return err
				}
				for k, v := range kv {
					if err := s.Put([]byte(k), v); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A box upgraded from the bbolt state keeps its pushed images: tags,
// manifests, links and referrers are in the store after the first Open,
// and the old file is set aside.
func TestImportLegacyState(t *testing.T) {
	dir := t.TempDir()
	c, store := cachetest.OpenStore(t, dir)
	ctx := context.Background()
	config, layer := []byte(`{}`), []byte("layer")
	cd, ld := digest.FromBytes(config), digest.FromBytes(layer)
	m := imageManifest(cd, 2, []sized{{ld, 5}}, "")
	sig := imageManifest(cd, 2, nil, `,"subject":{"mediaType":"`+ociManifest+`","digest":"`+string(digest.FromBytes(m))+`","size":1}`)
	md, sd := digest.FromBytes(m), digest.FromBytes(sig)
	for _, b := range [][]byte{config, layer, m, sig} {
		if err := c.PutHostedBlob(ctx, digest.FromBytes(b), b); err != nil {
			t.Fatal(err)
		}
	}
	put := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	link := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 5), uint64(put.UnixNano()))
	legacy := filepath.Join(dir, "hosted.db")
	legacyDB(t, legacy, map[string]map[string]map[string][]byte{
		"team/app": {
			"tags": {"v1": []byte(`{"digest":"` + string(md) + `","mediaType":"` + ociManifest + `","created":"2026-03-04T05:06:07Z"}`),
				"old": []byte(`{"digest":"` + string(md) + `","mediaType":"` + ociManifest + `"}`)},
			"manifests": {
				string(md): mustJSON(t, map[string]any{"mediaType": ociManifest, "size": len(m), "refs": []digest.Digest{cd, ld}, "put": put}),
				string(sd): mustJSON(t, map[string]any{"mediaType": ociManifest, "size": len(sig), "subject": md}),
			},
			"blobs": {string(ld): link, string(cd): binary.BigEndian.AppendUint64(nil, 2)},
			"referrers": {string(md) + "\x00" + string(sd): mustJSON(t, v1.Descriptor{MediaType: ociManifest, Digest: sd,
				Size: int64(len(sig)), Annotations: map[string]string{"k": "v"}})},
		},
		"empty": {"tags": {}, "manifests": {}, "blobs": {}, "referrers": {}},
	})

	r, err := oci.Open(t.Context(), store, c, legacy, oci.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := os.Stat(legacy); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the old state file is still in place: %v", err)
	}
	if _, err := os.Stat(legacy + ".imported"); err != nil {
		t.Fatal(err)
	}
	// A new registry on the store alone serves what was imported.
	r = openRegistry(t, store, c, oci.Config{})
	if names, _, _ := r.Repositories("", 10, nil); !slices.Equal(names, []string{"empty", "team/app"}) {
		t.Fatalf("Repositories = %v", names)
	}
	if tags, _, err := r.Tags("team/app", "", 10); err != nil || !slices.Equal(tags, []string{"old", "v1"}) {
		t.Fatalf("Tags = %v %v", tags, err)
	}
	if got, err := r.Manifest("team/app", "", "v1"); err != nil || got.Digest != md || got.Size != int64(len(m)) {
		t.Fatalf("Manifest = %+v %v", got, err)
	}
	if got, err := r.Manifest("team/app", sd, ""); err != nil || got.Subject != md {
		t.Fatalf("referrer manifest = %+v %v", got, err)
	}
	for _, d := range []digest.Digest{cd, ld} {
		if _, err := r.StatBlob(ctx, "team/app", d); err != nil {
			t.Fatalf("link of %s: %v", d, err)
		}
	}
	refs, err := r.Referrers("team/app", md, "")
	if err != nil || len(refs) != 1 || refs[0].Digest != sd || refs[0].Annotations["k"] != "v" {
		t.Fatalf("Referrers = %+v %v", refs, err)
	}
	items, err := r.Items(ctx)
	if err != nil || len(items) != 2 || !items[1].Created.Equal(put) || !items[0].Created.IsZero() {
		t.Fatalf("retention items = %+v %v", items, err)
	}
	// GC sees the imported records: the tagged image, its referrer and
	// their blobs stay.
	dropped, kept := mark(t, r, cache.MarkOptions{Cutoff: time.Now(), DeleteUntagged: true})
	if len(dropped) != 0 || !kept[ld] || !kept[cd] || !kept[md] || !kept[sd] {
		t.Fatalf("GC after import dropped %v, kept %v", dropped, kept)
	}
}
