package scimcmd

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// linksCommand is `caddy scim links export|import`: a backup of the identity links
// of one scim handler of a running Caddy, through its admin API, as JSON lines.
func linksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "links export|import",
		Short: "Back up or restore the identity links of a running Caddy's scim handler (JSON lines)",
		Long: `
The links are SCIM's record of each identity it provisioned (its userName of record,
who blocked it, its tenant). Where the application keeps no copy of the userName
(Gitea, a rest mapping without room), a lost link store is restored from a backup,
never guessed. export writes the links of one handler to standard output; import
reads such a file from standard input into the same handler's store (links of
another tenant are refused).`,
	}
	flags := func(c *cobra.Command) {
		c.Flags().String("address", "localhost:2019", "Caddy's admin endpoint")
		c.Flags().String("base-path", "/scim/v2", "the scim handler's base_path")
		c.Flags().String("tenant", "", "the scim handler's tenant")
	}
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the handler's links to standard output",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return linksCall(c, http.MethodGet, nil, c.OutOrStdout())
		},
	}
	imp := &cobra.Command{
		Use:   "import",
		Short: "Store the links read from standard input in the handler's store",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return linksCall(c, http.MethodPost, c.InOrStdin(), c.OutOrStdout())
		},
	}
	flags(export)
	flags(imp)
	cmd.AddCommand(export, imp)
	return cmd
}

func linksCall(c *cobra.Command, method string, body io.Reader, out io.Writer) error {
	address, _ := c.Flags().GetString("address")
	bp, _ := c.Flags().GetString("base-path")
	tenant, _ := c.Flags().GetString("tenant")
	if !strings.Contains(address, "://") {
		address = "http://" + address
	}
	u := strings.TrimSuffix(address, "/") + "/scim/links?" + url.Values{"base_path": {bp}, "tenant": {tenant}}.Encode()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/jsonl")
	}
	resp, err := (&http.Client{Timeout: time.Hour}).Do(req)
	if err != nil {
		return fmt.Errorf("reaching Caddy's admin API: %v (is Caddy running with the plugin, and is --address its admin endpoint?)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("the admin API answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
