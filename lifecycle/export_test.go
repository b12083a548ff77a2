package lifecycle

import (
	"io"
	"os"
)

// Signals makes Run read signals from ch instead of calling signal.Notify,
// so that tests can send them without signalling the test process.
func Signals(ch <-chan os.Signal) Option {
	return optionFunc(func(o *options) { o.signals = ch })
}

// DumpTo makes the third signal write the goroutine dump to w.
func DumpTo(w io.Writer) Option {
	return optionFunc(func(o *options) { o.dump = w })
}
