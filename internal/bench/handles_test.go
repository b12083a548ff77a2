package bench

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jellydator/ttlcache/v3"

	"github.com/reclaim-go/reclaim/pool/handles"
)

// HandlesHit: Get and release an open handle, from b.RunParallel goroutines
// spread over 64 keys. Each implementation is configured alike: the idle
// delay (or TTL, renewed by a hit) is a minute and the bound is 128 handles,
// so that every Get is a hit.
const (
	handlesKeys    = 64
	handlesIdle    = time.Minute
	handlesMaxOpen = 128
)

// handle is the cached value: a pointer, as a file or connection would be.
type handle struct{ _ int } // not zero-size, so each &handle{} is distinct

func (*handle) Close() error { return nil }

func handlesKeyNames() []string {
	keys := make([]string, handlesKeys)
	for i := range keys {
		keys[i] = "host-" + strconv.Itoa(i)
	}
	return keys
}

// runHandlesHit measures hit, called with each of the keys in turn from
// every b.RunParallel goroutine; each goroutine starts at a different key.
func runHandlesHit[K any](b *testing.B, keys []K, hit func(key K) bool) {
	var seed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7))
		for pb.Next() {
			if !hit(keys[i%len(keys)]) {
				b.Error("miss")
				return
			}
			i++
		}
	})
	b.StopTimer()
}

func BenchmarkHandlesHit(b *testing.B) {
	keys := handlesKeyNames()

	b.Run("reclaim", func(b *testing.B) {
		h, err := handles.New(handles.Config[string, *handle]{
			Open:        func(context.Context, string) (*handle, error) { return &handle{}, nil },
			IdleTimeout: handlesIdle,
			MaxOpen:     handlesMaxOpen,
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for _, k := range keys {
			r, err := h.Get(ctx, k)
			if err != nil {
				b.Fatal(err)
			}
			_ = r.Close()
		}
		runHandlesHit(b, keys, func(key string) bool {
			r, err := h.Get(ctx, key)
			if err != nil {
				return false
			}
			_ = r.Value()
			return r.Close() == nil
		})
		if s := h.Stats(); s.Misses != handlesKeys {
			b.Fatalf("%d misses, want only the %d warm-up ones", s.Misses, handlesKeys)
		}
		if err := h.Close(ctx); err != nil {
			b.Fatal(err)
		}
	})

	b.Run("ttlcache", func(b *testing.B) {
		c := ttlcache.New(
			ttlcache.WithTTL[string, *handle](handlesIdle),
			ttlcache.WithCapacity[string, *handle](handlesMaxOpen),
		)
		for _, k := range keys {
			c.Set(k, &handle{}, ttlcache.DefaultTTL)
		}
		runHandlesHit(b, keys, func(key string) bool {
			it := c.Get(key)
			return it != nil && it.Value() != nil
		})
	})

	b.Run("lru", func(b *testing.B) {
		c := expirable.NewLRU[string, *handle](handlesMaxOpen, nil, handlesIdle)
		for _, k := range keys {
			c.Add(k, &handle{})
		}
		runHandlesHit(b, keys, func(key string) bool {
			v, ok := c.Get(key)
			return ok && v != nil
		})
	})
}
