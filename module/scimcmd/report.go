package scimcmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddy-scim/caddy-scim/module/provision"
)

// handlerDrift is one handler's part of the admin API's /scim/report.
type handlerDrift struct {
	BasePath string          `json:"base_path"`
	Adapter  string          `json:"adapter"`
	Drift    provision.Drift `json:"drift"`
	Error    string          `json:"error"`
}

// report fetches the drift report from the admin API at address and writes it to w,
// as the admin API's JSON or as a table.
func report(w io.Writer, address string, asJSON bool) error {
	if !strings.Contains(address, "://") {
		address = "http://" + address
	}
	c := &http.Client{Timeout: 10 * time.Minute} // the report walks every application
	resp, err := c.Get(strings.TrimSuffix(address, "/") + "/scim/report")
	if err != nil {
		return fmt.Errorf("reaching Caddy's admin API: %v (is Caddy running with the plugin, and is --address its admin endpoint?)", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the admin API answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if asJSON {
		_, err := w.Write(b)
		return err
	}
	var rep struct{ Handlers []handlerDrift }
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("the admin API's answer is not a drift report: %v", err)
	}
	if len(rep.Handlers) == 0 {
		fmt.Fprintln(w, "no scim handler is configured in this Caddy")
	}
	for _, h := range rep.Handlers {
		writeDrift(w, h)
	}
	return nil
}

func writeDrift(w io.Writer, h handlerDrift) {
	d := h.Drift
	fmt.Fprintf(w, "%s (%s): %d managed users\n", h.BasePath, h.Adapter, d.ManagedUsers)
	if h.Error != "" {
		fmt.Fprintf(w, "  the report is incomplete: %s\n", h.Error)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FINDING\tID\tUSERNAME\tEXTERNAL ID\tDETAIL")
	rows := 0
	for _, s := range []struct {
		what string
		as   []provision.Account
	}{
		{"not managed by an IdP", d.Unmanaged}, {"blocked by hand", d.HandBlocked},
		{"renamed in the application", d.Renamed}, {"userName not provable", d.Unproven}, {"link to a deleted account", d.DanglingLinks},
	} {
		for _, a := range s.as {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.what, a.ID, a.UserName, dash(a.ExternalID), dash(a.Detail))
			rows++
		}
	}
	for _, g := range d.ForeignMembers {
		fmt.Fprintf(tw, "  group with unmanaged members\t%s\t%s\t-\t%s\n", g.ID, g.DisplayName, strings.Join(g.Members, ", "))
		rows++
	}
	if rows == 0 {
		fmt.Fprintln(w, "  no drift found")
	} else {
		tw.Flush()
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
