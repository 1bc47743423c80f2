package vim

import "sync"

// syncMap is a typed sync.Map for the package's reflection caches.
type syncMap[K comparable, V any] struct{ m sync.Map }

func (s *syncMap[K, V]) Load(k K) (V, bool) {
	v, ok := s.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	out, _ := v.(V) // a stored nil interface V fails the assertion and stays nil
	return out, true
}

func (s *syncMap[K, V]) Store(k K, v V) { s.m.Store(k, v) }
