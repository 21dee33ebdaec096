// Package scimcmd adds the "caddy scim" command: tools an operator runs before a
// deployment, without a running server.
//
//	caddy scim check-mapping <file.json>   check a rest adapter mapping
//	caddy scim preset <name>               print a shipped mapping (to start one from)
//	caddy scim report [--address] [--json] the drift report of a running Caddy
//	caddy scim links export|import         back up or restore a handler's identity links
package scimcmd

import (
	"fmt"
	"io"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-scim/caddy-scim/adapters/rest"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "scim",
		Usage: "check-mapping <file> | preset <name> | report [--address <admin>] [--json] | links export|import [--address <admin>] [--base-path <path>] [--tenant <t>]",
		Short: "Tools for the caddy-scim plugin",
		Long: `
check-mapping reads a mapping of the rest adapter (scim.adapters.rest) exactly as the
adapter loads it, and prints what it maps, or the first field that is wrong (exit
status 1). preset prints a shipped mapping, a starting point for your own. report
asks a running Caddy's admin API for the drift report of its scim handlers: accounts
no IdP manages, accounts blocked by hand or renamed in the application, links to
deleted accounts, groups with members SCIM does not manage. links export and import
back up and restore the identity links of one scim handler (JSON lines).`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(&cobra.Command{
				Use:   "check-mapping <file>",
				Short: "Check a rest adapter mapping before deploying it",
				Args:  cobra.ExactArgs(1),
				RunE: func(c *cobra.Command, args []string) error {
					return checkMapping(c.OutOrStdout(), args[0])
				},
			})
			rep := &cobra.Command{
				Use:   "report",
				Short: "Print the drift report of a running Caddy's scim handlers",
				Args:  cobra.NoArgs,
				RunE: func(c *cobra.Command, args []string) error {
					addr, _ := c.Flags().GetString("address")
					asJSON, _ := c.Flags().GetBool("json")
					return report(c.OutOrStdout(), addr, asJSON)
				},
			}
			rep.Flags().String("address", "localhost:2019", "Caddy's admin endpoint")
			rep.Flags().Bool("json", false, "print the admin API's JSON instead of a table")
			cmd.AddCommand(rep)
			cmd.AddCommand(linksCommand())
			cmd.AddCommand(&cobra.Command{
				Use:   "preset <name>",
				Short: "Print a shipped mapping: " + strings.Join(rest.Presets(), ", "),
				Args:  cobra.ExactArgs(1),
				RunE: func(c *cobra.Command, args []string) error {
					b, err := rest.PresetJSON(args[0])
					if err != nil {
						return err
					}
					_, err = c.OutOrStdout().Write(b)
					return err
				},
			})
		},
	})
}

// checkMapping checks the mapping in file and writes its summary to w.
func checkMapping(w io.Writer, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	summary, err := rest.Check(b, nil)
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	fmt.Fprintf(w, "%s: ok\n", file)
	for _, l := range summary {
		fmt.Fprintln(w, "  "+l)
	}
	return nil
}
