package adapters

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// ParseBlock reads the Caddyfile block of an adapter, positioned on the adapter's
// name, in the form every adapter shares:
//
//	<name> [<url>] {
//		url <url>
//		<option> <value>
//		<list option> <value...>
//	}
//
// It enforces one value per option (except those named in lists, which take one or
// more), no option twice, and the url given once, inline or in the block; set
// receives every other option and its value(s) and rejects unknown ones.
func ParseBlock(d *caddyfile.Dispenser, name string, url *string, lists []string, set func(opt string, vals []string) error) error {
	d.Next() // the adapter name
	if d.NextArg() {
		*url = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if seen[opt] {
			return d.Errf("duplicate %s option '%s'", name, opt)
		}
		seen[opt] = true
		vals := d.RemainingArgs()
		isList := false
		for _, l := range lists {
			isList = isList || l == opt
		}
		if len(vals) == 0 || (!isList && len(vals) != 1) {
			return d.ArgErr()
		}
		if opt == "url" {
			if *url != "" {
				return d.Errf("%s url given twice", name)
			}
			*url = vals[0]
			continue
		}
		if err := set(opt, vals); err != nil {
			return err
		}
	}
	return nil
}
