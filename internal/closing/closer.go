package closing

import (
	"context"
	"reflect"
)

// Closer returns how to close a value of type T when its owner was given
// no close function: T's own Close method when T has one of the
// recognised forms, Close() error, Close() or Close(context.Context) error
// (called with a background context), and false otherwise, so that the
// owner can refuse its configuration once, at construction, rather than
// leak every value. The returned func closes a nil interface value as a
// no-op.
func Closer[T any]() (func(T) error, bool) {
	t := reflect.TypeFor[T]()
	switch {
	case t.Implements(reflect.TypeFor[interface{ Close() error }]()):
		return func(v T) error {
			if c, ok := any(v).(interface{ Close() error }); ok {
				return c.Close()
			}
			return nil
		}, true
	case t.Implements(reflect.TypeFor[interface{ Close() }]()):
		return func(v T) error {
			if c, ok := any(v).(interface{ Close() }); ok {
				c.Close()
			}
			return nil
		}, true
	case t.Implements(reflect.TypeFor[interface{ Close(context.Context) error }]()):
		return func(v T) error {
			if c, ok := any(v).(interface{ Close(context.Context) error }); ok {
				return c.Close(context.Background())
			}
			return nil
		}, true
	}
	return nil, false
}
