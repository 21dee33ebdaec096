package links

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/segmentio/encoding/json"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// BoltDB is an open link store file: the durable store of a single instance, on
// bbolt (the embedded key/value store etcd uses: pure Go, one file, ACID transactions
// that fsync on commit, no server). Each SCIM handler keeps its links in a namespace
// of its own (Store).
//
// bbolt locks the file for one process. Within a process, OpenBolt shares one open
// file between its callers (a Caddy reload provisions the new handlers before it
// cleans up the old ones, and a second open of a locked file would wait for the
// lock); the file is closed when the last BoltDB on it is closed.
//
// Layout: a "meta" bucket holds the file's epoch (a random id written when the file
// is created, so a deleted and recreated file never passes for the old one); each
// namespace is a top-level bucket "ns/<namespace>" holding
//
//	id/<id>                        → compact JSON of Link
//	ext/<externalId>               → id
//	un/<lower(userName)>           → id
//	order/<orderKey(id)>           → id of each visible user (managed, not DELETEd)
//	intent/e<externalId>, u<lower(userName)> → deadline of an intent (Intend)
//	mark                           → "complete:<epoch>" or "building:<token>"
//	visible                        → number of keys in order
type BoltDB struct {
	f    *boltFile
	once sync.Once
}

// boltFile is one open file, shared by the BoltDBs of a process that opened it.
type boltFile struct {
	path  string
	db    *bolt.DB
	epoch string
	refs  int // guarded by boltFiles.mu

	mu     sync.Mutex
	stores map[string]*Bolt
}

var boltFiles = struct {
	mu sync.Mutex
	m  map[string]*boltFile
}{m: map[string]*boltFile{}}

// boltOpenTimeout bounds the wait for the file lock: another process holding the
// file is an error to report, not a reason to hang the start.
const boltOpenTimeout = 2 * time.Second

// boltBatchDelay is how long a Put waits for others to share its commit. bbolt's
// default (10ms) is several fsyncs: a lone writer would pay it on every Put. Writers
// that arrive while a commit runs wait for it anyway and share the next one, so a
// short window keeps most of the sharing.
const boltBatchDelay = time.Millisecond

var (
	bucketMeta   = []byte("meta")
	keyEpoch     = []byte("epoch")
	bucketID     = []byte("id")
	bucketExt    = []byte("ext")
	bucketUN     = []byte("un")
	bucketOrder  = []byte("order")
	bucketIntent = []byte("intent")
	keyMark      = []byte("mark")
	keyVisible   = []byte("visible")
)

// OpenBolt opens the link store file at path, creating it (0600) and its directory
// (0700) if missing. A file held by another process is an error after 2s.
func OpenBolt(path string) (*BoltDB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("links: the link store %s: %w", path, err)
	}
	boltFiles.mu.Lock()
	defer boltFiles.mu.Unlock()
	if f := boltFiles.m[abs]; f != nil {
		f.refs++
		return &BoltDB{f: f}, nil
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("links: the link store %s: %w", path, err)
	}
	db, err := bolt.Open(abs, 0o600, &bolt.Options{Timeout: boltOpenTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("links: the link store %s is in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("links: opening the link store %s: %w", path, err)
	}
	db.MaxBatchDelay = boltBatchDelay
	var epoch string
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyEpoch); v != nil {
			epoch = string(v)
			return nil
		}
		if epoch, err = lockToken(); err != nil {
			return err
		}
		return meta.Put(keyEpoch, []byte(epoch))
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("links: initialising the link store %s: %w", path, err)
	}
	f := &boltFile{path: abs, db: db, epoch: epoch, refs: 1, stores: map[string]*Bolt{}}
	boltFiles.m[abs] = f
	return &BoltDB{f: f}, nil
}

// Path is the absolute path of the file.
func (d *BoltDB) Path() string { return d.f.path }

// Close closes the file once no other BoltDB of this process uses it; closing the
// same BoltDB again does nothing. It waits for transactions in flight.
func (d *BoltDB) Close() error {
	var err error
	d.once.Do(func() {
		boltFiles.mu.Lock()
		defer boltFiles.mu.Unlock()
		d.f.refs--
		if d.f.refs > 0 {
			return
		}
		delete(boltFiles.m, d.f.path)
		err = d.f.db.Close()
	})
	return err
}

// Store returns the store of namespace: its links live in a bucket of their own,
// never seen by another namespace. Every call with the same namespace on the same
// open file returns the same *Bolt (its locks and index verification are shared).
func (d *BoltDB) Store(namespace string) *Bolt {
	f := d.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.stores[namespace]; s != nil {
		return s
	}
	s := &Bolt{db: f.db, ns: []byte("ns/" + namespace), epoch: f.epoch,
		changed: make(chan struct{}, 1), locks: map[string]boltLock{}, now: time.Now}
	f.stores[namespace] = s
	return s
}

// Bolt is one namespace of a BoltDB: a Store whose links live until Forget (no TTL),
// a Resolver, and an Index whose epoch is the file's. Every lookup is one read
// transaction (no disk write, no fsync); Put, Swap and Forget are one write
// transaction, shared with concurrent writers (bbolt's Batch).
type Bolt struct {
	db      *bolt.DB
	ns      []byte
	epoch   string
	tx      atomic.Int64
	changed chan struct{}

	verified atomic.Pointer[string] // the mark ProveNew may trust; nil: none

	lockMu  sync.Mutex
	locks   map[string]boltLock
	lockSeq uint64
	now     func() time.Time

	reads readCache
}

// readCache keeps what lookups read (by id, userName and externalId), so that a
// warm read of the link of an account costs no read transaction. Only this
// process writes this namespace (bbolt locks the file), and every write goes
// through update, which empties the cache before and after its commit: a lookup
// keeps what it read only when no write began or ended meanwhile (gen).
type readCache struct {
	mu    sync.Mutex
	gen   uint64
	links map[string]Link // key: "i"+id, "u"+lower(userName), "e"+externalId
}

// readCacheMax bounds the cache; past it the cache starts again empty.
const readCacheMax = 50_000

func (c *readCache) get(key string) (Link, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.links[key]
	return l, ok, c.gen
}

func (c *readCache) put(key string, l Link, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.links == nil || len(c.links) >= readCacheMax {
		c.links = map[string]Link{}
	}
	c.links[key] = l
}

func (c *readCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.links = nil
}

// cachedView answers a lookup of key from the read cache, or reads it with f in a
// read transaction and keeps a hit.
func (b *Bolt) cachedView(key string, f func(nb nsBuckets) (Link, bool)) (Link, bool, error) {
	l, ok, gen := b.reads.get(key)
	if ok {
		return l, true, nil
	}
	err := b.view(func(nb nsBuckets) error { l, ok = f(nb); return nil })
	if err == nil && ok {
		b.reads.put(key, l, gen)
	}
	return l, ok, err
}

type boltLock struct {
	deadline time.Time
	seq      uint64
}

// Transactions reports how many bbolt transactions this store has run, for
// benchmarks and metrics (Redis's RoundTrips). A batched write counts once per
// caller, though callers batched together share one commit.
func (b *Bolt) Transactions() int64 { return b.tx.Load() }

// nsBuckets are the buckets of a namespace in one transaction. In a read
// transaction of a namespace never written, they are nil: every read is a miss.
type nsBuckets struct {
	ns, id, ext, un, order, intent *bolt.Bucket
}

func (b *Bolt) view(f func(nb nsBuckets) error) error {
	b.tx.Add(1)
	return b.db.View(func(tx *bolt.Tx) error {
		var nb nsBuckets
		if ns := tx.Bucket(b.ns); ns != nil {
			nb = nsBuckets{ns: ns, id: ns.Bucket(bucketID), ext: ns.Bucket(bucketExt), un: ns.Bucket(bucketUN),
				order: ns.Bucket(bucketOrder), intent: ns.Bucket(bucketIntent)}
		}
		return f(nb)
	})
}

// update runs f in a write transaction of its own (batch false) or in one shared
// with concurrent callers (batch true: f may then run more than once, so it must
// only touch the transaction).
func (b *Bolt) update(batch bool, f func(nb nsBuckets) error) error {
	b.tx.Add(1)
	b.reads.drop()
	defer b.reads.drop()
	run := b.db.Update
	if batch {
		run = b.db.Batch
	}
	return run(func(tx *bolt.Tx) error {
		ns, err := tx.CreateBucketIfNotExists(b.ns)
		if err != nil {
			return err
		}
		nb := nsBuckets{ns: ns}
		for _, p := range []struct {
			name []byte
			to   **bolt.Bucket
		}{{bucketID, &nb.id}, {bucketExt, &nb.ext}, {bucketUN, &nb.un}, {bucketOrder, &nb.order}, {bucketIntent, &nb.intent}} {
			if *p.to, err = ns.CreateBucketIfNotExists(p.name); err != nil {
				return err
			}
		}
		return f(nb)
	})
}

func get(bk *bolt.Bucket, key string) []byte {
	if bk == nil || key == "" {
		return nil
	}
	return bk.Get([]byte(key))
}

// link reads the link of id; an unreadable value is a miss, like Redis's.
func (nb nsBuckets) link(id string) (Link, bool) {
	v := get(nb.id, id)
	if v == nil {
		return Link{}, false
	}
	var l Link
	if json.Unmarshal(v, &l) != nil || l.ID != id {
		return Link{}, false
	}
	return l, true
}

func (nb nsBuckets) byExt(ext string) (Link, bool) {
	id := get(nb.ext, ext)
	if id == nil {
		return Link{}, false
	}
	l, ok := nb.link(string(id))
	return l, ok && l.ExternalID == ext
}

func (nb nsBuckets) byUN(userName string) (Link, bool) {
	key := strings.ToLower(userName)
	id := get(nb.un, key)
	if id == nil {
		return Link{}, false
	}
	l, ok := nb.link(string(id))
	return l, ok && strings.ToLower(l.UserName) == key
}

func boltErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("links: bolt %s: %w", op, err)
}

// ByExternalID implements Store in one read transaction.
func (b *Bolt) ByExternalID(ctx context.Context, externalID string) (string, bool, error) {
	l, ok, err := b.LinkByExternalID(ctx, externalID)
	return l.ID, ok, err
}

// ByUserName implements Store in one read transaction.
func (b *Bolt) ByUserName(ctx context.Context, userName string) (string, bool, error) {
	l, ok, err := b.LinkByUserName(ctx, userName)
	return l.ID, ok, err
}

// LinkByExternalID implements Resolver in one read transaction.
func (b *Bolt) LinkByExternalID(_ context.Context, externalID string) (l Link, ok bool, err error) {
	if externalID == "" {
		return Link{}, false, nil
	}
	l, ok, err = b.cachedView("e"+externalID, func(nb nsBuckets) (Link, bool) { return nb.byExt(externalID) })
	return l, ok, boltErr("get", err)
}

// LinkByUserName implements Resolver in one read transaction.
func (b *Bolt) LinkByUserName(_ context.Context, userName string) (l Link, ok bool, err error) {
	if userName == "" {
		return Link{}, false, nil
	}
	l, ok, err = b.cachedView("u"+strings.ToLower(userName), func(nb nsBuckets) (Link, bool) { return nb.byUN(userName) })
	return l, ok, boltErr("get", err)
}

// Get implements Store in one read transaction.
func (b *Bolt) Get(_ context.Context, id string) (l Link, ok bool, err error) {
	if id == "" {
		return Link{}, false, nil
	}
	l, ok, err = b.cachedView("i"+id, func(nb nsBuckets) (Link, bool) { return nb.link(id) })
	return l, ok, boltErr("get", err)
}

// GetMany implements Store in one read transaction.
func (b *Bolt) GetMany(_ context.Context, ids []string) ([]Link, error) {
	out := make([]Link, len(ids))
	err := b.view(func(nb nsBuckets) error {
		for i, id := range ids {
			out[i], _ = nb.link(id)
		}
		return nil
	})
	if err != nil {
		return nil, boltErr("get many", err)
	}
	return out, nil
}

// Put implements Store in one write transaction: the link, its index entries and its
// place in the order, and the removal of the previous link's index entries, commit
// together. A link without an id is dropped, as Redis does: nothing could find it.
func (b *Bolt) Put(_ context.Context, l Link) error {
	if l.ID == "" {
		return nil
	}
	v, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("links: encoding link: %w", err)
	}
	return boltErr("put", b.update(true, func(nb nsBuckets) error { return nb.put(l, v) }))
}

// PutAll implements Index: one write transaction per 1000 links.
func (b *Bolt) PutAll(_ context.Context, ls []Link) error {
	for batch := range slices.Chunk(ls, 1000) {
		err := b.update(false, func(nb nsBuckets) error {
			for _, l := range batch {
				if l.ID == "" {
					continue
				}
				if err := nb.putLink(l); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return boltErr("put all", err)
		}
	}
	return nil
}

// Swap implements Store in one write transaction (shared, like Put's): the link is
// compared and written, with its index entries, intents and order, in one commit.
func (b *Bolt) Swap(_ context.Context, old, l Link) (bool, error) {
	if l.ID == "" {
		return false, nil
	}
	v, err := json.Marshal(l)
	if err != nil {
		return false, fmt.Errorf("links: encoding link: %w", err)
	}
	var ok bool
	err = b.update(true, func(nb nsBuckets) error {
		ok = false // a batch may run f again
		if cur, found := nb.link(l.ID); !holds(cur, found, old) {
			return nil
		}
		ok = true
		return nb.put(l, v)
	})
	if err != nil {
		return false, boltErr("swap", err)
	}
	return ok, nil
}

// SwapAll implements Index: one write transaction per 1000 links.
func (b *Bolt) SwapAll(_ context.Context, olds, ls []Link) (int, error) {
	if err := checkSwapAll(olds, ls); err != nil {
		return 0, err
	}
	written := 0
	for start := 0; start < len(ls); start += 1000 {
		end := min(start+1000, len(ls))
		n := 0
		err := b.update(false, func(nb nsBuckets) error {
			n = 0
			for i := start; i < end; i++ {
				l := ls[i]
				if l.ID == "" {
					continue
				}
				if cur, found := nb.link(l.ID); !holds(cur, found, olds[i]) {
					continue
				}
				if err := nb.putLink(l); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return written, boltErr("swap all", err)
		}
		written += n
	}
	return written, nil
}

// put writes l (encoded as v) in a write transaction.
// putLink encodes l and puts it (put).
func (nb nsBuckets) putLink(l Link) error {
	v, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("links: encoding link: %w", err)
	}
	return nb.put(l, v)
}

func (nb nsBuckets) put(l Link, v []byte) error {
	if err := nb.dropIndex(l.ID); err != nil {
		return err
	}
	id := []byte(l.ID)
	if err := nb.id.Put(id, v); err != nil {
		return err
	}
	if l.ExternalID != "" {
		if err := nb.ext.Put([]byte(l.ExternalID), id); err != nil {
			return err
		}
		// the link replaces an intent for the same identity
		if err := nb.intent.Delete(intentKey('e', l.ExternalID)); err != nil {
			return err
		}
	}
	if un := strings.ToLower(l.UserName); un != "" {
		if err := nb.un.Put([]byte(un), id); err != nil {
			return err
		}
		if err := nb.intent.Delete(intentKey('u', un)); err != nil {
			return err
		}
	}
	return nb.setVisible(l.ID, !l.Deleted && !l.Group)
}

// dropIndex removes the index entries of the stored link of id that still point at
// it (another link may have taken a userName since).
func (nb nsBuckets) dropIndex(id string) error {
	prev, ok := nb.link(id)
	if !ok {
		return nil
	}
	if prev.ExternalID != "" && string(nb.ext.Get([]byte(prev.ExternalID))) == id {
		if err := nb.ext.Delete([]byte(prev.ExternalID)); err != nil {
			return err
		}
	}
	if un := strings.ToLower(prev.UserName); un != "" && string(nb.un.Get([]byte(un))) == id {
		if err := nb.un.Delete([]byte(un)); err != nil {
			return err
		}
	}
	return nil
}

// setVisible adds id to the order or removes it, keeping the count.
func (nb nsBuckets) setVisible(id string, visible bool) error {
	k := orderKey(id)
	had := nb.order.Get(k) != nil
	if had == visible {
		return nil
	}
	n := nb.visible()
	if visible {
		n++
		if err := nb.order.Put(k, []byte(id)); err != nil {
			return err
		}
	} else {
		n--
		if err := nb.order.Delete(k); err != nil {
			return err
		}
	}
	return nb.ns.Put(keyVisible, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func (nb nsBuckets) visible() int {
	if nb.ns == nil {
		return 0
	}
	v := nb.ns.Get(keyVisible)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

// orderKey makes bbolt's byte order the upstream id order (as Redis's orderScore
// does): ids that are not numbers first, as strings; then numeric ids by length, then
// as strings, which is numerically.
func orderKey(id string) []byte {
	if strings.Trim(id, "0123456789") != "" {
		return append([]byte{0}, id...)
	}
	k := binary.BigEndian.AppendUint32([]byte{1}, uint32(len(id)))
	return append(k, id...)
}

// Forget implements Store in one write transaction.
func (b *Bolt) Forget(_ context.Context, id string) error {
	if id == "" {
		return nil
	}
	return boltErr("forget", b.update(true, func(nb nsBuckets) error {
		if err := nb.dropIndex(id); err != nil {
			return err
		}
		if err := nb.id.Delete([]byte(id)); err != nil {
			return err
		}
		return nb.setVisible(id, false)
	}))
}

// Lock implements Store with a process-local lock that expires after ttl: bbolt's
// file lock already keeps every other process out of the store.
func (b *Bolt) Lock(_ context.Context, key string, ttl time.Duration) (func(), bool, error) {
	b.lockMu.Lock()
	defer b.lockMu.Unlock()
	now := b.now()
	if l, held := b.locks[key]; held && now.Before(l.deadline) {
		return nil, false, nil
	}
	b.lockSeq++
	mine := boltLock{deadline: now.Add(ttl), seq: b.lockSeq}
	b.locks[key] = mine
	for k, l := range b.locks { // expired locks nobody released
		if !now.Before(l.deadline) {
			delete(b.locks, k)
		}
	}
	return func() {
		b.lockMu.Lock()
		defer b.lockMu.Unlock()
		if b.locks[key] == mine {
			delete(b.locks, key)
		}
	}, true, nil
}

// The index. The epoch is the file's: links are lost only with the file, and a new
// file has a new epoch. There is no connection generation (always 0).

// IndexState implements Index in one read transaction.
func (b *Bolt) IndexState(context.Context) (IndexState, error) {
	st := IndexState{Epoch: b.epoch}
	err := b.view(func(nb nsBuckets) error {
		if v, ok := strings.CutPrefix(nb.mark(), markComplete); ok {
			st.Mark = v
		}
		return nil
	})
	return st, boltErr("index mark", err)
}

func (nb nsBuckets) mark() string {
	if nb.ns == nil {
		return ""
	}
	return string(nb.ns.Get(keyMark))
}

// Verified implements Index.
func (b *Bolt) Verified(st IndexState) {
	if st.Mark == "" || st.Mark != st.Epoch || st.Evicting {
		return
	}
	m := markComplete + st.Mark
	b.verified.Store(&m)
}

// Unverify implements Index.
func (b *Bolt) Unverify() { b.verified.Store(nil) }

// Trusted reports whether ProveNew would consult the index now (for a gauge).
func (b *Bolt) Trusted() bool { return b.verified.Load() != nil }

// trustedOrKick returns the verified mark, or "" after asking the maintainer to
// check at once.
func (b *Bolt) trustedOrKick() string {
	if v := b.verified.Load(); v != nil {
		return *v
	}
	b.kick()
	return ""
}

// stillComplete reports whether the mark read in the transaction of an index answer
// is still the verified one; if not, the answer must not be used.
func (b *Bolt) stillComplete(want string, nb nsBuckets) bool {
	if nb.mark() == want {
		return true
	}
	b.Unverify()
	b.kick()
	return false
}

func (b *Bolt) kick() {
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// Changed implements Index.
func (b *Bolt) Changed() <-chan struct{} { return b.changed }

// ProveNew implements Index in one read transaction.
func (b *Bolt) ProveNew(_ context.Context, externalID, userName string) (bool, error) {
	want := b.trustedOrKick()
	if want == "" {
		return false, nil
	}
	var isNew bool
	err := b.view(func(nb nsBuckets) error {
		if !b.stillComplete(want, nb) {
			return nil
		}
		now := b.now()
		un := strings.ToLower(userName)
		isNew = (externalID == "" || get(nb.ext, externalID) == nil && !nb.intended('e', externalID, now)) &&
			(un == "" || get(nb.un, un) == nil && !nb.intended('u', un, now))
		return nil
	})
	return isNew, boltErr("prove new", err)
}

// intentKey is the key of an intent: kind 'e' (externalId) or 'u' (lower userName).
func intentKey(kind byte, v string) []byte { return append([]byte{kind}, v...) }

// intended reports whether an intent for v is still live at now.
func (nb nsBuckets) intended(kind byte, v string, now time.Time) bool {
	if nb.intent == nil {
		return false
	}
	d := nb.intent.Get(intentKey(kind, v))
	return len(d) == 8 && now.UnixNano() < int64(binary.BigEndian.Uint64(d))
}

// Intend implements Index in one write transaction; an identity that has a link or a
// live intent is left alone. Intents that expired (creates that never wrote their
// link) are swept on the way: the intent bucket only holds creates in flight.
func (b *Bolt) Intend(_ context.Context, externalID, userName string, ttl time.Duration) error {
	now := b.now()
	deadline := binary.BigEndian.AppendUint64(nil, uint64(now.Add(ttl).UnixNano()))
	un := strings.ToLower(userName)
	return boltErr("intend", b.update(true, func(nb nsBuckets) error {
		var expired [][]byte
		c := nb.intent.Cursor()
		for k, d := c.First(); k != nil; k, d = c.Next() {
			if len(d) != 8 || now.UnixNano() >= int64(binary.BigEndian.Uint64(d)) {
				expired = append(expired, slices.Clone(k))
			}
		}
		for _, k := range expired {
			if err := nb.intent.Delete(k); err != nil {
				return err
			}
		}
		for _, e := range []struct {
			kind  byte
			v     string
			index *bolt.Bucket
		}{{'e', externalID, nb.ext}, {'u', un, nb.un}} {
			if e.v == "" || e.index.Get([]byte(e.v)) != nil || nb.intended(e.kind, e.v, now) {
				continue
			}
			if err := nb.intent.Put(intentKey(e.kind, e.v), deadline); err != nil {
				return err
			}
		}
		return nil
	}))
}

// BeginRebuild implements Index. The order starts afresh: the rebuild re-adds every
// visible id, and writes that run meanwhile add their own.
func (b *Bolt) BeginRebuild(context.Context) (string, error) {
	tok, err := lockToken()
	if err != nil {
		return "", err
	}
	b.Unverify()
	err = b.update(false, func(nb nsBuckets) error {
		if err := nb.ns.Put(keyMark, []byte(markBuilding+tok)); err != nil {
			return err
		}
		if err := nb.ns.DeleteBucket(bucketOrder); err != nil {
			return err
		}
		if _, err := nb.ns.CreateBucket(bucketOrder); err != nil {
			return err
		}
		return nb.ns.Delete(keyVisible)
	})
	return tok, boltErr("index begin", err)
}

// CompleteRebuild implements Index: the mark becomes complete only if it still holds
// token (an Invalidate meanwhile deleted it).
func (b *Bolt) CompleteRebuild(_ context.Context, token, epoch string) (bool, error) {
	var ok bool
	err := b.update(false, func(nb nsBuckets) error {
		ok = nb.mark() == markBuilding+token
		if !ok {
			return nil
		}
		return nb.ns.Put(keyMark, []byte(markComplete+epoch))
	})
	return ok && err == nil, boltErr("index complete", err)
}

// Invalidate implements Index.
func (b *Bolt) Invalidate(context.Context) error {
	b.Unverify()
	return boltErr("index invalidate", b.update(false, func(nb nsBuckets) error { return nb.ns.Delete(keyMark) }))
}

// PageLinks implements Index in one read transaction: the count is kept with the
// order, and the page is found by walking the order's keys from the first (the links
// of the other pages are not read).
func (b *Bolt) PageLinks(_ context.Context, offset, limit int) ([]Link, int, bool, error) {
	want := b.trustedOrKick()
	if want == "" {
		return nil, 0, false, nil
	}
	var ls []Link
	var total int
	var ok bool
	err := b.view(func(nb nsBuckets) error {
		if ok = b.stillComplete(want, nb); !ok {
			return nil
		}
		total = nb.visible()
		ls = []Link{}
		if limit <= 0 || nb.order == nil {
			return nil
		}
		c := nb.order.Cursor()
		k, id := c.First()
		for i := 0; k != nil && i < offset; i++ {
			k, id = c.Next()
		}
		for ; k != nil && len(ls) < limit; k, id = c.Next() {
			l, found := nb.link(string(id))
			if !found {
				l = Link{ID: string(id)} // the caller reads the user upstream anyway
			}
			ls = append(ls, l)
		}
		return nil
	})
	if err != nil {
		return nil, 0, false, boltErr("page", err)
	}
	if !ok {
		return nil, 0, false, nil
	}
	return ls, total, true, nil
}

// Visible implements Index in one read transaction.
func (b *Bolt) Visible(_ context.Context, ids []string) (map[string]bool, bool, error) {
	want := b.trustedOrKick()
	if want == "" {
		return nil, false, nil
	}
	var known map[string]bool
	err := b.view(func(nb nsBuckets) error {
		if !b.stillComplete(want, nb) {
			return nil
		}
		known = make(map[string]bool, len(ids))
		for _, id := range ids {
			known[id] = nb.order != nil && nb.order.Get(orderKey(id)) != nil
		}
		return nil
	})
	if err != nil {
		return nil, false, boltErr("visible", err)
	}
	return known, known != nil, nil
}

// Phase reads the mark in one read transaction and tells where the index stands
// (links.Phase*), for health checks and the activity page.
func (b *Bolt) Phase(context.Context) (string, error) {
	var m string
	err := b.view(func(nb nsBuckets) error { m = nb.mark(); return nil })
	if err != nil {
		return "", boltErr("index mark", err)
	}
	return phaseOf(m, b.Trusted()), nil
}

// Each implements Exporter: the links in id byte order, read 500 at a time, each
// batch in a read transaction of its own, so that a slow f never holds one open (a
// long read transaction keeps bbolt from growing the file, which stalls writers).
// A link written during the walk may or may not be seen.
func (b *Bolt) Each(ctx context.Context, f func(Link) error) error {
	var after []byte
	for {
		var batch []Link
		var last []byte
		err := b.view(func(nb nsBuckets) error {
			if nb.id == nil {
				return nil
			}
			c := nb.id.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(batch) < 500; k, v = c.Next() {
				last = slices.Clone(k)
				var l Link
				if json.Unmarshal(v, &l) != nil || l.ID != string(k) {
					continue // unreadable: not a link
				}
				batch = append(batch, l)
			}
			return nil
		})
		if err != nil {
			return boltErr("export", err)
		}
		for _, l := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := f(l); err != nil {
				return err
			}
		}
		if last == nil {
			return nil
		}
		after = last
	}
}

var (
	_ Store    = (*Bolt)(nil)
	_ Resolver = (*Bolt)(nil)
	_ Index    = (*Bolt)(nil)
	_ Exporter = (*Bolt)(nil)
)
