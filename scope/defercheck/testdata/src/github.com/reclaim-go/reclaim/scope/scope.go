// Package scope is a stand-in for reclaim's scope with the same names and
// signatures, so the analyzers' tests do not depend on the library.
package scope

import (
	"context"
	"io"
)

type Scope struct{ n int }

type Handle struct{}

type Option interface{}

func New(opts ...Option) *Scope                                     { return &Scope{} }
func (s *Scope) Defer(fn func() error) Handle                       { return Handle{} }
func (s *Scope) DeferFunc(fn func()) Handle                         { return Handle{} }
func (s *Scope) DeferClose(c io.Closer) Handle                      { return Handle{} }
func (s *Scope) DeferContext(fn func(context.Context) error) Handle { return Handle{} }
func (s *Scope) OnFailure(fn func() error) Handle                   { return Handle{} }
func (s *Scope) Len() int                                           { return s.n }
func (s *Scope) Release() *Scope                                    { return &Scope{} }
func (s *Scope) Close() error                                       { return nil }
func (s *Scope) CloseContext(ctx context.Context) error             { return nil }
func (s *Scope) CloseInto(errp *error)                              {}

func Run(ctx context.Context, fn func(ctx context.Context, s *Scope) error) error { return nil }

func (h Handle) Run() error   { return nil }
func (h Handle) Cancel() bool { return false }
