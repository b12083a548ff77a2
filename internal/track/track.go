// Package track is the one registry of the live resources that reclaim
// hands out and can lose: Scopes holding cleanups, pool leases, handles
// references. Every leak check reads it (Scope leak detection, a Pool's
// LeakThreshold, a Cache's TrackHolders, scopetest.VerifyTestMain and
// CheckLeaks), and it publishes the live resources as pprof profiles
// (reclaim.scopes, reclaim.leases, reclaim.refs), so that
// `go tool pprof http://host/debug/pprof/reclaim.leases` shows who holds
// a service's connections.
//
// Tracking is off unless asked for, by the RECLAIM_LEAKS environment
// variable (off, sampled, full), by [Force], or by a package option; off, a
// resource costs one atomic load. Sampled tracks one resource in
// [SampleRate].
package track

import (
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reclaim-go/reclaim/internal/stack"
)

// Level is how much is tracked.
type Level uint32

const (
	Off     Level = iota // nothing
	Sampled              // one resource in SampleRate
	Full                 // every resource
)

// SampleRate is how many resources Sampled lets pass for each one it tracks.
const SampleRate = 64

var (
	level  atomic.Uint32
	forced atomic.Bool
)

func init() { level.Store(uint32(fromEnv(os.Getenv("RECLAIM_LEAKS")))) }

// fromEnv parses RECLAIM_LEAKS.
func fromEnv(v string) Level {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "full", "1", "on", "true":
		return Full
	case "sampled", "sample":
		return Sampled
	}
	return Off
}

// Current returns the level in effect for the whole process.
func Current() Level { return Level(level.Load()) }

// Force sets the process-wide level to Full, whatever RECLAIM_LEAKS says,
// until the returned function restores it. scopetest.VerifyTestMain forces
// it for a whole test run, scopetest.CheckLeaks for a test: forces nest,
// and the level goes back once every one has been restored.
func Force() (restore func()) {
	forceMu.Lock()
	defer forceMu.Unlock()
	prev := Level(level.Swap(uint32(Full)))
	if forces == 0 {
		unforced = prev
	}
	forces++
	forced.Store(true)
	var once sync.Once
	return func() {
		once.Do(func() {
			forceMu.Lock()
			defer forceMu.Unlock()
			if forces--; forces == 0 {
				level.Store(uint32(unforced))
				forced.Store(false)
			}
		})
	}
}

var (
	forceMu  sync.Mutex
	forces   int   // Force calls not yet restored
	unforced Level // the level before the first of them
)

// Set sets the process-wide level to l until the returned function restores
// the previous one: for allocation tests, which measure a run without
// tracking inside a test run that forced it on.
func Set(l Level) (restore func()) {
	prev := level.Swap(uint32(l))
	return func() { level.Store(prev) }
}

// Forced reports whether a test run forced tracking on (see [Force]).
func Forced() bool { return forced.Load() }

// A Kind is one kind of tracked resource, with its pprof profile.
type Kind struct {
	name    string
	what    string // "Scope", "lease", "reference": for reports
	profile *pprof.Profile
	sampled atomic.Uint64

	mu   sync.Mutex
	live map[*Entry]struct{}
}

// The kinds of resources reclaim tracks.
var (
	Scopes = newKind("reclaim.scopes", "Scope")
	Leases = newKind("reclaim.leases", "pool lease")
	Refs   = newKind("reclaim.refs", "handles reference")
	// Goroutines are the goroutines of lifecycle groups, always tracked:
	// a group's leak check names where each was asked for.
	Goroutines = newKind("reclaim.goroutines", "lifecycle goroutine")
)

func newKind(name, what string) *Kind {
	return &Kind{name: name, what: what, profile: pprof.NewProfile(name), live: map[*Entry]struct{}{}}
}

// Name returns the kind's pprof profile name.
func (k *Kind) Name() string { return k.name }

// An Entry is one tracked resource that has not been given back. The zero
// of its methods' receivers, a nil *Entry, is an untracked resource: every
// method does nothing.
type Entry struct {
	kind    *Kind
	detail  string // what the owner says about it: the pool's type, the key
	created stack.Trace
	at      time.Time
	ended   atomic.Bool
}

// Track starts tracking a resource of kind k if the level asks for it (l is
// the owner's own level; the process-wide one applies when it is higher),
// and returns its entry, or nil. skip is the number of frames above
// Track's caller to leave out of the creation stack.
func (k *Kind) Track(l Level, detail string, skip int) *Entry {
	return k.TrackOwn(max(l, Current()), detail, skip+1)
}

// TrackOwn is Track for an owner whose own level overrides the
// process-wide one, even a forced one: a Scope made with an explicit
// scope.DetectLeaks.
func (k *Kind) TrackOwn(l Level, detail string, skip int) *Entry {
	if !k.Want(l) {
		return nil
	}
	return k.add(detail, stack.Capture(skip+1), skip+1)
}

// Want reports whether a resource is to be tracked at level l, counting
// it for sampling: for an owner that has work to do, such as formatting
// its detail, only for a tracked resource, which it then tracks with
// [Kind.TrackAt].
func (k *Kind) Want(l Level) bool {
	switch l {
	case Off:
		return false
	case Sampled:
		return k.sampled.Add(1)%SampleRate == 1
	}
	return true
}

// TrackAt tracks a resource, always, with a creation stack captured
// earlier: a goroutine that a group starts at Start for a Go call made
// before it.
func (k *Kind) TrackAt(detail string, created stack.Trace, skip int) *Entry {
	return k.add(detail, created, skip+1)
}

func (k *Kind) add(detail string, created stack.Trace, skip int) *Entry {
	e := &Entry{kind: k, detail: detail, created: created, at: time.Now()}
	k.mu.Lock()
	k.live[e] = struct{}{}
	k.mu.Unlock()
	k.profile.Add(e, skip+2)
	return e
}

// Trace returns the stack that created the resource.
func (e *Entry) Trace() stack.Trace {
	if e == nil {
		return stack.Trace{}
	}
	return e.created
}

// Since returns when the resource was created, or the zero time.
func (e *Entry) Since() time.Time {
	if e == nil {
		return time.Time{}
	}
	return e.at
}

// Done ends the tracking of a resource that was given back. It is
// idempotent and safe for concurrent use.
func (e *Entry) Done() {
	if e == nil || !e.ended.CompareAndSwap(false, true) {
		return
	}
	e.remove()
}

// Dropped ends the tracking of a resource that became unreachable without
// being given back, and records it as a leak; why says what was lost ("3
// pending cleanups"). It returns the leak, or false if the entry had
// ended already.
func (e *Entry) Dropped(why string) (Leak, bool) {
	if e == nil || !e.ended.CompareAndSwap(false, true) {
		return Leak{}, false
	}
	e.remove()
	l := Leak{Kind: e.kind.name, What: e.kind.what, Detail: e.detail, Why: why, Created: e.created.String()}
	leaksMu.Lock()
	if len(leaks) < maxLeaks {
		leaks = append(leaks, l)
	} else {
		leaksLost++
	}
	leaksMu.Unlock()
	return l, true
}

func (e *Entry) remove() {
	k := e.kind
	k.mu.Lock()
	delete(k.live, e)
	k.mu.Unlock()
	k.profile.Remove(e)
}

// A Leak is a tracked resource found unreachable while it was still live,
// or, in a report of what remains, one still live.
type Leak struct {
	Kind    string // the pprof profile name, such as "reclaim.leases"
	What    string // "Scope", "pool lease", "handles reference"
	Detail  string // what its owner said about it
	Why     string // what was lost, for a dropped resource; "" for a live one
	Created string // the stack that created or acquired it
}

// String formats the leak over several lines, its stack last.
func (l Leak) String() string {
	var b strings.Builder
	b.WriteString(l.What)
	if l.Detail != "" {
		b.WriteString(" (" + l.Detail + ")")
	}
	if l.Why != "" {
		b.WriteString(" dropped without being given back: " + l.Why)
	} else {
		b.WriteString(" still held")
	}
	b.WriteString(", created at:\n")
	b.WriteString(l.Created)
	return b.String()
}

const maxLeaks = 10000

var (
	leaksMu   sync.Mutex
	leaks     []Leak
	leaksLost int
)

// Dropped returns the leaks recorded since the process started (or since
// the last [Reset]), and how many more were not kept.
func Dropped() ([]Leak, int) {
	leaksMu.Lock()
	defer leaksMu.Unlock()
	return append([]Leak(nil), leaks...), leaksLost
}

// Take removes the recorded leaks for which belongs returns true and
// returns them, so that a per-test check reports them and the run's check
// does not report them again.
func Take(belongs func(Leak) bool) []Leak {
	leaksMu.Lock()
	defer leaksMu.Unlock()
	var taken []Leak
	kept := leaks[:0]
	for _, l := range leaks {
		if belongs(l) {
			taken = append(taken, l)
		} else {
			kept = append(kept, l)
		}
	}
	clear(leaks[len(kept):])
	leaks = kept
	return taken
}

// Reset forgets the recorded leaks, for tests of this package.
func Reset() {
	leaksMu.Lock()
	leaks, leaksLost = nil, 0
	leaksMu.Unlock()
}

// Live returns the resources of the given kinds still tracked, as Leaks
// without a Why.
func Live(kinds ...*Kind) []Leak {
	var out []Leak
	for _, k := range kinds {
		k.mu.Lock()
		for e := range k.live {
			out = append(out, Leak{Kind: k.name, What: k.what, Detail: e.detail, Created: e.created.String()})
		}
		k.mu.Unlock()
	}
	return out
}

// Report groups leaks by what and where they were created, most frequent
// first, one paragraph a group with its count.
func Report(ls []Leak) string {
	type group struct {
		Leak
		n int
	}
	byKey := map[string]*group{}
	var order []*group
	for _, l := range ls {
		key := l.What + "\x00" + l.Why + "\x00" + l.Created
		g := byKey[key]
		if g == nil {
			g = &group{Leak: l}
			byKey[key] = g
			order = append(order, g)
		}
		g.n++
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].n > order[j].n })
	var b strings.Builder
	for _, g := range order {
		fmt.Fprintf(&b, "%d× %s\n", g.n, g.Leak.String())
	}
	return b.String()
}
