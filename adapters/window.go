package adapters

import "slices"

// WindowOf answers ListUsers from every managed user, for an adapter that must read
// them all: it sorts them in ascending id order (CompareIDs; also for upstreams that
// ignore a sort parameter) and returns the window p and the total.
func WindowOf(managed []Record, p Page) ([]Record, int) {
	slices.SortStableFunc(managed, func(x, y Record) int { return CompareIDs(x.User.ID, y.User.ID) })
	total := len(managed)
	if p.Limit <= 0 || p.Offset >= total {
		return []Record{}, total
	}
	off := max(p.Offset, 0)
	return managed[off:min(off+p.Limit, total)], total
}
