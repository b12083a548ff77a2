// Package stack captures and formats goroutine call stacks for leak reports.
//
// Capturing is split from formatting so that the hot path (recording where a
// resource was acquired) only copies program counters, and the symbolization
// cost is paid when a report is actually printed.
package stack

import (
	"runtime"
	"strconv"
	"strings"
)

// maxDepth bounds a captured stack; deeper frames are rarely useful in a
// leak report and would make every capture more expensive.
const maxDepth = 32

// Trace is a captured call stack: the program counters of its frames,
// innermost first. The zero Trace is empty.
type Trace struct {
	pcs []uintptr
}

// Capture records the stack of its caller's caller onwards, skipping skip
// additional frames (0 means the function that called Capture is the first
// frame reported).
func Capture(skip int) Trace {
	var buf [maxDepth]uintptr
	n := runtime.Callers(skip+2, buf[:])
	pcs := make([]uintptr, n)
	copy(pcs, buf[:n])
	return Trace{pcs: pcs}
}

// Empty reports whether t holds no frames.
func (t Trace) Empty() bool { return len(t.pcs) == 0 }

// String formats t like a panic traceback: one "function\n\tfile:line" pair
// per frame, runtime frames omitted.
func (t Trace) String() string {
	if len(t.pcs) == 0 {
		return ""
	}
	var b strings.Builder
	frames := runtime.CallersFrames(t.pcs)
	for {
		f, more := frames.Next()
		if f.Function != "" && !strings.HasPrefix(f.Function, "runtime.") {
			b.WriteString(f.Function)
			b.WriteString("\n\t")
			b.WriteString(f.File)
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(f.Line))
			b.WriteByte('\n')
		}
		if !more {
			break
		}
	}
	return b.String()
}

// Caller returns the program counter of the function that called the
// function calling Caller, skipping skip further frames. It does not
// allocate. Resolve it later with [Site].
func Caller(skip int) uintptr {
	var pc [1]uintptr
	if runtime.Callers(skip+3, pc[:]) == 0 {
		return 0
	}
	return pc[0]
}

// Site resolves a program counter from [Caller] to "file:line" and the name
// of the function it lies in. It returns empty strings for a zero pc.
func Site(pc uintptr) (site, function string) {
	if pc == 0 {
		return "", ""
	}
	frames := runtime.CallersFrames([]uintptr{pc})
	f, _ := frames.Next()
	return f.File + ":" + strconv.Itoa(f.Line), f.Function
}

// Goroutine returns the stack of the goroutine with the given id from a dump
// of all goroutines, or "" when it is not running. It is meant for reports on
// hung callbacks, where the stack shows what the callback is blocked on.
func Goroutine(id uint64) string {
	prefix := "goroutine " + strconv.FormatUint(id, 10) + " "
	for _, g := range strings.Split(string(All()), "\n\n") {
		if strings.HasPrefix(g, prefix) {
			return g
		}
	}
	return ""
}

// All returns the stacks of all goroutines, formatted as by an unhandled
// SIGQUIT, growing its buffer until the dump fits.
func All() []byte {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// CurrentID returns the id of the calling goroutine, parsed from its stack
// header. It is slow (it formats a stack) and meant for diagnostics only.
func CurrentID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	s := strings.TrimPrefix(string(buf[:n]), "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		id, _ := strconv.ParseUint(s[:i], 10, 64)
		return id
	}
	return 0
}

// WriteAcquiredAt ends a late holder's error with where it acquired what it
// holds (a trace from [Trace.String]), or, when trace is empty, with the
// setting that would have recorded it.
func WriteAcquiredAt(b *strings.Builder, trace, setting string) {
	if trace == "" {
		b.WriteString(" (acquire stack not recorded: set " + setting + ")")
		return
	}
	b.WriteString(", acquired at:\n")
	b.WriteString(strings.TrimSuffix(trace, "\n"))
}
