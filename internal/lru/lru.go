// Package lru is a load-once LRU cache bounded by a count of values and by
// their total size: concurrent callers asking for a value being loaded
// wait for that one load, and a failed load is not kept.
package lru

import (
	"container/list"
	"errors"
	"sync"
)

// Cache maps keys to values loaded on first use, evicting the least
// recently used ones beyond its bounds. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu       sync.Mutex
	maxItems int
	maxBytes int64
	size     func(V) int64
	bytes    int64
	ll       *list.List // front: most recently used; values *entry[K, V]
	items    map[K]*list.Element
	inflight map[K]*call[V]
}

type entry[K comparable, V any] struct {
	key  K
	val  V
	size int64
}

type call[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// New returns a cache keeping at most maxItems values (0: no count bound)
// whose sizes, as size tells them, add up to at most maxBytes (0, or a nil
// size: no byte bound). A value larger than maxBytes on its own is
// returned to its callers but not kept.
func New[K comparable, V any](maxItems int, maxBytes int64, size func(V) int64) *Cache[K, V] {
	if size == nil {
		maxBytes = 0
	}
	return &Cache[K, V]{maxItems: maxItems, maxBytes: maxBytes, size: size, ll: list.New(),
		items: map[K]*list.Element{}, inflight: map[K]*call[V]{}}
}

// Get returns the value of key, calling load once to make it when the cache
// does not hold it; callers asking for it meanwhile wait for that load and
// share its value and error.
func (c *Cache[K, V]) Get(key K, load func() (V, error)) (V, error) {
	v, _, err := c.get(key, load, true)
	return v, err
}

// TryGet is Get, except that it does not wait for a load another caller
// has started: it then returns false at once.
func (c *Cache[K, V]) TryGet(key K, load func() (V, error)) (V, bool, error) {
	return c.get(key, load, false)
}

func (c *Cache[K, V]) get(key K, load func() (V, error), wait bool) (V, bool, error) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		v := el.Value.(*entry[K, V]).val
		c.mu.Unlock()
		return v, true, nil
	}
	if cl, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		if !wait {
			var zero V
			return zero, false, nil
		}
		<-cl.done
		return cl.val, true, cl.err
	}
	cl := &call[V]{done: make(chan struct{})}
	c.inflight[key] = cl
	c.mu.Unlock()

	completed := false
	defer func() {
		if !completed {
			// load panicked: those waiting for it get an error, the key
			// is free to load again, and the panic goes on up.
			cl.err = errLoadPanicked
			c.mu.Lock()
			delete(c.inflight, key)
			c.mu.Unlock()
			close(cl.done)
		}
	}()
	cl.val, cl.err = load()
	completed = true

	c.mu.Lock()
	delete(c.inflight, key)
	if cl.err == nil {
		c.add(key, cl.val)
	}
	c.mu.Unlock()
	close(cl.done)
	return cl.val, true, cl.err
}

// errLoadPanicked is what callers waiting for a load get when it panicked.
var errLoadPanicked = errors.New("lru: the load of this value panicked")

// add keeps v as the most recently used value, then evicts from the least
// recently used end down to the bounds. Called with c.mu held.
func (c *Cache[K, V]) add(key K, v V) {
	var n int64
	if c.size != nil {
		n = c.size(v)
	}
	if c.maxBytes > 0 && n > c.maxBytes {
		return
	}
	c.items[key] = c.ll.PushFront(&entry[K, V]{key: key, val: v, size: n})
	c.bytes += n
	for (c.maxItems > 0 && c.ll.Len() > c.maxItems) || (c.maxBytes > 0 && c.bytes > c.maxBytes) {
		el := c.ll.Back()
		e := el.Value.(*entry[K, V])
		c.ll.Remove(el)
		delete(c.items, e.key)
		c.bytes -= e.size
	}
}

// Len returns how many values the cache holds and their total size.
func (c *Cache[K, V]) Len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len(), c.bytes
}

// Peek returns the value of key if the cache holds it (marking it used),
// without loading it.
func (c *Cache[K, V]) Peek(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*entry[K, V]).val, true
	}
	var zero V
	return zero, false
}
