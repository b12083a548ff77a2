package closing

import "context"

// Wait waits until done is closed or ctx is done, and reports whether done
// was closed (a nil done counts as closed). When both are ready, done wins.
func Wait(ctx context.Context, done <-chan struct{}) bool {
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}
