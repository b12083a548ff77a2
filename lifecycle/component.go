package lifecycle

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"time"
)

// A Component is one part of a service that must be started before the
// parts added after it and stopped after them: a database pool, a cache, an
// HTTP server. Add it to a [Group] with [Group.Add].
//
// Only Name is required. A nil Start or Stop does nothing, so a resource
// that is ready once constructed needs only Stop (see [Closer] and
// [ContextCloser]). A Component is a plain value; the group copies it.
type Component struct {
	// Name names the component in errors and logs. It must be unique
	// within the group.
	Name string

	// Start starts the component. Its context carries the values of the
	// context given to [Group.Start], is cancelled if that one is, and
	// expires after StartTimeout. Start runs in a goroutine of the group;
	// if it has not returned shortly after its context is done, the group
	// abandons it and fails to start; the stop that follows waits for it
	// within the component's share of the budget, and calls Stop in the
	// component's place if it returned nil (see [Group.Start]).
	Start func(ctx context.Context) error

	// Stop stops the component, releasing everything Start acquired. It is
	// called once, and only if Start returned nil; a component without
	// Start holds a resource that exists already, so its Stop is called
	// once in any case, also when the group never reached it (a component
	// added before it failed to start, or Stop came first). Its context expires at
	// the end of the component's share of the stop budget, a little
	// before the group abandons it (see [Group.Stop]), and is cancelled
	// early when the stop is forced (see [Group.Run]): a Stop that honours
	// it should then close what it was draining.
	Stop func(ctx context.Context) error

	// StartTimeout bounds Start. Zero means the group's [StartTimeout]
	// option (15 seconds by default); negative means no bound besides the
	// context given to [Group.Start].
	StartTimeout time.Duration

	// StopTimeout, when positive, replaces the component's equal share of
	// the stop budget, capped by what remains of that budget. Zero means
	// an equal share; negative is treated as zero.
	StopTimeout time.Duration

	// serve, if not nil, runs in a goroutine of the group from the moment
	// Start succeeds until Stop makes it return; an error it returns before
	// Stop is called is a failure, as for a supervised goroutine.
	serve func() error

	// release, if not nil, gives back what a constructor was handed when
	// the component is never started (see [Group.Stop]); without it, a
	// component without Start is released by its Stop.
	release func(ctx context.Context) error

	// invalid, if not nil, is why a constructor's arguments were bad;
	// Add returns it.
	invalid error
}

// Closer returns a Component that closes c when it stops. The Close call
// does not see the stop context; if it hangs past the component's share of
// the stop budget, it is abandoned like any stop hook. The group closes c
// exactly once, also when it is never started (a component added before it
// failed to start, or the group was stopped first). A nil c makes
// [Group.Add] fail.
//
//	err := g.Add(lifecycle.Closer("log file", f))
func Closer(name string, c io.Closer) Component {
	if isNil(c) {
		return Component{Name: name, invalid: fmt.Errorf("Closer %q: the io.Closer is nil", name)}
	}
	return Component{Name: name, Stop: func(context.Context) error { return c.Close() }}
}

// ContextCloser returns a Component that closes c with the stop context
// when it stops. It fits pool.Pool and handles.Cache, whose Close waits for
// borrowed resources until the context is done. As with [Closer], c is
// closed exactly once, started or not, and a nil c makes [Group.Add] fail.
//
//	err := g.Add(lifecycle.ContextCloser("db", dbPool))
func ContextCloser(name string, c interface{ Close(context.Context) error }) Component {
	if isNil(c) {
		return Component{Name: name, invalid: fmt.Errorf("ContextCloser %q: the closer is nil", name)}
	}
	return Component{Name: name, Stop: c.Close}
}

// releaser returns what gives back the resource of c when it is never
// started, or nil if there is none.
func (c *Component) releaser() func(context.Context) error {
	if c.release == nil && c.Start == nil {
		return c.Stop
	}
	return c.release
}

// isNil reports whether v is nil, or an interface holding a nil pointer,
// map, channel, func or slice: what a constructor cannot use.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Func, reflect.Slice, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}
