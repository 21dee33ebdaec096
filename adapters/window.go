package adapters

import "slices"

// Bounds is the window [from, to) of p over n items in order: empty (0, 0) when
// Limit is 0 or Offset is past the end.
func (p Page) Bounds(n int) (from, to int) {
	from = max(p.Offset, 0)
	if p.Limit <= 0 || from >= n {
		return 0, 0
	}
	return from, min(from+p.Limit, n)
}

// Window is the one offset window of a listing: the items of p among items (never
// nil, so that an empty page renders as []) and the total, len(items).
func Window[T any](items []T, p Page) ([]T, int) {
	from, to := p.Bounds(len(items))
	if from == to {
		return []T{}, len(items)
	}
	return items[from:to], len(items)
}

// WindowOf answers ListUsers from every managed user, for an adapter that must read
// them all: it sorts them in ascending id order (CompareIDs; also for upstreams that
// ignore a sort parameter) and returns the window p and the total.
func WindowOf(managed []Record, p Page) ([]Record, int) {
	slices.SortStableFunc(managed, func(x, y Record) int { return CompareIDs(x.User.ID, y.User.ID) })
	return Window(managed, p)
}
