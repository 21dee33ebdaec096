package links

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Exporter is implemented by stores that can list every link they hold (users' and
// groups' alike), for a backup or a move to another store.
type Exporter interface {
	// Each calls f with each link, in no promised order, and stops at the first
	// error f returns (or at ctx's end). Links written during the walk may or may
	// not be seen; a value that is not a readable link is skipped.
	Each(ctx context.Context, f func(Link) error) error
}

// WriteJSONLines writes every link of e to w as JSON Lines: one Link object a line,
// in the store's own encoding (the json tags of Link). It returns how many it wrote.
func WriteJSONLines(ctx context.Context, w io.Writer, e Exporter) (n int, err error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw) // Encode ends each object with a newline
	enc.SetEscapeHTML(false)
	err = e.Each(ctx, func(l Link) error {
		if err := enc.Encode(l); err != nil {
			return fmt.Errorf("links: export: %w", err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("links: export: %w", err)
	}
	return n, nil
}

// maxLineBytes bounds one line of an import: a link is a few hundred bytes.
const maxLineBytes = 1 << 20

// ReadJSONLines imports what WriteJSONLines wrote into s and returns how many links
// it stored. Every line is checked before it is stored: an object with no unknown
// field (a newer version's export is refused, not silently cut), an id, a known
// Block; blank lines are skipped. The first bad line stops the import with an error
// naming it; the links of the lines before it are stored (the lines are stored in
// batches as they are read; Put of the same links again is harmless, so a failed
// import is simply run again once the file is fixed).
//
// A guarded store (Guard) is imported into directly, past its circuit: the guard
// drops writes it cannot make, and an import must see every failure.
//
// accept, when given, is asked about each link and may refuse it (an error that
// stops the import at its line), e.g. a link of another tenant.
func ReadJSONLines(ctx context.Context, r io.Reader, s Store, accept ...func(Link) error) (n int, err error) {
	if g, ok := s.(*guard); ok {
		s = g.s
	}
	put := func(ls []Link) error {
		if pa, ok := s.(interface {
			PutAll(context.Context, []Link) error
		}); ok {
			return pa.PutAll(ctx, ls)
		}
		for _, l := range ls {
			if err := s.Put(ctx, l); err != nil {
				return err
			}
		}
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLineBytes)
	var batch []Link
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := put(batch); err != nil {
			return fmt.Errorf("links: import: %w", err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for line := 1; sc.Scan(); line++ {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		l, err := parseLink(b)
		for _, ok := range accept {
			if err == nil && ok != nil {
				err = ok(l)
			}
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return n, ferr
			}
			return n, fmt.Errorf("links: import: line %d: %w", line, err)
		}
		if batch = append(batch, l); len(batch) == 500 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if ferr := flush(); ferr != nil {
			return n, ferr
		}
		if errors.Is(err, bufio.ErrTooLong) {
			return n, fmt.Errorf("links: import: a line longer than %d bytes", maxLineBytes)
		}
		return n, fmt.Errorf("links: import: %w", err)
	}
	return n, flush()
}

// parseLink reads and checks one line of an import.
func parseLink(b []byte) (Link, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l Link
	if err := dec.Decode(&l); err != nil {
		return Link{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Link{}, errors.New("more than one JSON value on the line")
	}
	if l.ID == "" {
		return Link{}, errors.New(`the link has no "id"`)
	}
	if l.Block != "" && !slices.Contains([]string{BlockNone, BlockSCIM, BlockApp}, l.Block) {
		return Link{}, fmt.Errorf("unknown block owner %q", l.Block)
	}
	return l, nil
}
