package lifecycle

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/multierr"

	"github.com/reclaim-go/reclaim/internal/stack"
	"github.com/reclaim-go/reclaim/internal/track"
)

// Every goroutine a group starts carries the pprof label labelKey, with a
// value naming the group and the goroutine. The runtime copies a
// goroutine's labels to every goroutine it creates, so the label also
// marks what the group's goroutines started in turn (a pool's janitor
// started by a start hook, a server's connections): a leak check finds the
// group's own goroutines, and no one else's, in a dump of the process, even
// when other groups run in parallel tests.
const labelKey = "reclaim/lifecycle"

var groupIDs atomic.Uint64

// A tracker records the goroutines of one group.
type tracker struct {
	id uint64 // the group's number in the process; 0 until init

	mu   sync.Mutex          // protects the fields below
	seq  uint64              // number of the last goroutine started
	gors map[uint64]*tracked // every goroutine started, by number, kept for leak reports
}

// A tracked goroutine is one the group started.
type tracked struct {
	op, name string       // what it runs: describe(op, name)
	created  stack.Trace  // where it was asked for
	entry    *track.Entry // in the registry of live resources while it runs
	gid      atomic.Uint64
	done     chan struct{} // closed when it returns
}

func (t *tracker) init() {
	if t.id == 0 {
		t.id = groupIDs.Add(1)
		t.gors = make(map[uint64]*tracked)
	}
}

// labelPrefix starts the label value of each of the group's goroutines.
func (t *tracker) labelPrefix() string {
	return "g" + strconv.FormatUint(t.id, 10) + "."
}

// spawn runs fn in a new goroutine of the group, labelled so that it and
// its descendants can be found in a dump, and remembered with what it runs
// (op for the entry name) and created. fn gets tag, which adds the label
// to a context, so that pprof.Do with the context the group hands out
// keeps the label.
func (t *tracker) spawn(op, name string, created stack.Trace, fn func(tag func(context.Context) context.Context)) *tracked {
	r := &tracked{op: op, name: name, created: created, done: make(chan struct{})}
	r.entry = track.Goroutines.TrackAt(describe(op, name), created, 1)
	t.mu.Lock()
	t.seq++
	seq := t.seq
	t.gors[seq] = r
	t.mu.Unlock()
	labels := pprof.Labels(labelKey, t.labelPrefix()+strconv.FormatUint(seq, 10))
	tag := func(ctx context.Context) context.Context { return pprof.WithLabels(ctx, labels) }
	go func() {
		defer close(r.done)
		defer r.entry.Done()
		pprof.SetGoroutineLabels(tag(context.Background()))
		r.gid.Store(stack.CurrentID())
		fn(tag)
	}()
	return r
}

// exited reports whether r has returned.
func (r *tracked) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stack returns r's current stack, or "" if it has returned.
func (r *tracked) stack() string {
	if r.exited() {
		return ""
	}
	if id := r.gid.Load(); id != 0 {
		return stack.Goroutine(id)
	}
	return ""
}

// LeakError reports goroutines of a group still running when
// [Group.CheckLeaks] gave up waiting for them: either goroutines the group
// started (hook runners, supervised goroutines) or goroutines that those
// started in turn, directly or not. Goroutines with the same stack are
// reported together.
type LeakError struct {
	// Name says which of the group's goroutines the leaked ones are or
	// descend from: `goroutine "worker"`, `component "db": start`.
	Name string
	// Count is the number of goroutines with this stack.
	Count int
	// Stack is where they are now: one "function\n\tfile:line\n" pair per
	// frame, innermost first.
	Stack string
	// Created is where the group's goroutine named by Name was asked for:
	// the call to [Group.Go] for a supervised goroutine, the group's own
	// code for a hook.
	Created string
}

// Error names the goroutines and gives their stack.
func (e *LeakError) Error() string {
	what := "goroutine"
	if e.Count != 1 {
		what = strconv.Itoa(e.Count) + " goroutines"
	}
	return fmt.Sprintf("lifecycle: %s of %s still running:\n%s", what, e.Name, strings.TrimRight(e.Stack, "\n"))
}

// leakWait bounds CheckLeaks when its context has no deadline.
const leakWait = time.Second

// CheckLeaks reports the goroutines of the group that are still running:
// those the group started, to run hooks and supervised goroutines, and
// every goroutine that those started in turn, such as a pool's background
// goroutine started by a start hook and never stopped. Goroutines that the
// caller or anyone else started are not counted, so the check works in
// parallel tests.
//
// Call it after [Group.Stop]. It waits for the goroutines to return, until
// ctx is done or, if ctx has no deadline, for one second, and then returns
// nil, or one [*LeakError] per stack still running, combined with
// [multierr.Combine].
//
// Goroutines are recognised by a pprof label that they inherit from the
// group's goroutines. The contexts the group hands to hooks and supervised
// goroutines carry the label too, so that [pprof.Do] with one of them (or
// one derived from it) keeps it; a goroutine that sets labels from a
// context the group did not give escapes the check. Goroutines that live on in
// shared machinery, such as the connections kept by
// [net/http.DefaultTransport] for requests made in a hook, count as
// leaks: close them in a stop hook.
func (g *Group) CheckLeaks(ctx context.Context) error {
	if ctx == nil {
		panic("lifecycle: CheckLeaks called with a nil context")
	}
	g.mu.Lock()
	g.initLocked()
	g.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, leakWait)
		defer cancel()
	}
	delay := time.Millisecond
	for {
		leaks := g.tracker.find()
		if len(leaks) == 0 {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			errs := make([]error, len(leaks))
			for i, l := range leaks {
				errs[i] = l
			}
			return multierr.Combine(errs...)
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// find returns the group's goroutines still running, from a goroutine
// profile, which unlike runtime.Stack reports labels.
func (t *tracker) find() []*LeakError {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		panic("bug: goroutine profile: " + err.Error())
	}
	// Labels print as {"key":"value", ...}; ours is "reclaim/lifecycle":"g<group>.<seq>".
	needle := strconv.Quote(labelKey) + `:"` + t.labelPrefix()
	var leaks []*LeakError
	for _, rec := range parseProfile(buf.Bytes()) {
		_, rest, ok := strings.Cut(rec.labels, needle)
		if !ok {
			continue
		}
		digits, _, _ := strings.Cut(rest, `"`)
		seq, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			continue
		}
		t.mu.Lock()
		r := t.gors[seq]
		t.mu.Unlock()
		if r == nil {
			continue
		}
		leaks = append(leaks, &LeakError{Name: describe(r.op, r.name), Count: rec.count, Stack: rec.stack, Created: r.created.String()})
	}
	return leaks
}

// A profileRecord is one entry of a goroutine profile at debug level 1:
// count goroutines that share a stack and a label set.
type profileRecord struct {
	count  int
	labels string
	stack  string
}

// parseProfile reads the legacy text format of a goroutine profile:
//
//	goroutine profile: total 7
//	2 @ 0x43d4ee 0x40a9a7 ...
//	# labels: {"k":"v"}
//	#	0x4700c1	pkg.fn+0x21	/path/file.go:10
//	(blank line)
func parseProfile(p []byte) []profileRecord {
	var recs []profileRecord
	var cur *profileRecord
	var st strings.Builder
	flush := func() {
		if cur != nil {
			cur.stack = st.String()
			recs = append(recs, *cur)
			cur = nil
		}
		st.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(p))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "# labels: "):
			if cur != nil {
				cur.labels = line[len("# labels: "):]
			}
		case strings.HasPrefix(line, "#"):
			// "#", pc, function+offset and file:line, separated by
			// tabs (a path may hold spaces).
			var f []string
			for _, c := range strings.Split(line[1:], "\t") {
				if c = strings.TrimSpace(c); c != "" {
					f = append(f, c)
				}
			}
			if cur == nil || len(f) < 3 {
				continue
			}
			fn := f[1]
			if i := strings.LastIndex(fn, "+0x"); i > 0 {
				fn = fn[:i]
			}
			st.WriteString(fn)
			st.WriteString("\n\t")
			st.WriteString(f[len(f)-1])
			st.WriteByte('\n')
		default:
			n, _, ok := strings.Cut(line, " @ ")
			if !ok {
				continue
			}
			count, err := strconv.Atoi(n)
			if err != nil {
				continue
			}
			flush()
			cur = &profileRecord{count: count}
		}
	}
	flush()
	return recs
}
