// Package pool is a stand-in for reclaim's pool, with Ref still in it as
// before the split into pool/handles.
package pool

import "context"

type Pool[T any] struct{ v T }

type Lease[T any] struct{ v T }

func (p *Pool[T]) Acquire(ctx context.Context) (Lease[T], error) { return Lease[T]{}, nil }
func (l Lease[T]) Value() T                                      { return l.v }
func (l Lease[T]) Release()                                      {}
func (l Lease[T]) Destroy()                                      {}
func (l Lease[T]) Close() error                                  { return nil }

type Handles[K comparable, V any] struct{ v V }

type Ref[K comparable, V any] struct{ v V }

func (h *Handles[K, V]) Get(ctx context.Context, key K) (Ref[K, V], error) { return Ref[K, V]{}, nil }
func (r Ref[K, V]) Value() V                                               { return r.v }
func (r Ref[K, V]) Close() error                                           { return nil }
