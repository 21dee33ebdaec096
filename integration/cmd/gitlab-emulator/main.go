// Command gitlab-emulator serves the gitlabemu GitLab REST API v4 emulator
// on a local port so demo scripts and tests in other processes can use it.
// Once listening it prints one line, GITLAB_URL=<url> GITLAB_TOKEN=<token>,
// on stdout; SIGINT or SIGTERM shut it down gracefully.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/gitlabemu"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0 picks a free one)")
	token := flag.String("token", "", "admin personal access token (random when empty)")
	rate := flag.Int("rate-limit", 0, "requests per -rate-window per user before 429 (0 = off)")
	window := flag.Duration("rate-window", time.Minute, "rate limit window")
	appLimit := flag.Bool("rate-limit-json", false, "answer 429 with the application-limit JSON body instead of Rack::Attack's plain text")
	groupsLimit := flag.Int("groups-api-limit", 0, "GET /groups requests per user per minute (GitLab 17.1+ default 200; 0 = off)")
	groupLimit := flag.Int("group-api-limit", 0, "GET /groups/:id requests per user per minute (GitLab 17.1+ default 400; 0 = off)")
	adminMode := flag.Bool("admin-mode", false, "turn the instance's Admin Mode on: admin tokens need the admin_mode scope")
	scopes := flag.String("token-scopes", "", "comma-separated scopes of the admin token (default api,sudo)")
	delDelay := flag.Duration("user-deletion-delay", 0, "how long GitLab's DeleteUserWorker takes after DELETE /users/:id (0 = by the next request)")
	delStalls := flag.Bool("user-deletion-stalls", false, "the user deletion worker never finishes")
	delayedGroups := flag.Bool("delayed-group-deletion", false, "DELETE /groups/:id marks the group for deletion (Premium; every tier from 18.0)")
	retention := flag.Duration("group-retention", 7*24*time.Hour, "how long a group marked for deletion is kept")
	flag.Parse()

	if *token == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			log.Fatal(err)
		}
		*token = "glpat-" + hex.EncodeToString(b)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	style := gitlabemu.RackAttack
	if *appLimit {
		style = gitlabemu.ApplicationLimit
	}
	var tokenScopes []string
	if *scopes != "" {
		tokenScopes = strings.Split(*scopes, ",")
	}
	emu := gitlabemu.New(gitlabemu.Options{
		AdminToken: *token, AdminTokenScopes: tokenScopes, AdminMode: *adminMode,
		RateLimit: *rate, RateLimitWindow: *window, RateLimitStyle: style,
		GroupsAPILimit: *groupsLimit, GroupAPILimit: *groupLimit, BaseURL: base,
		UserDeletionDelay: *delDelay, UserDeletionStalls: *delStalls,
		DelayedGroupDeletion: *delayedGroups, GroupRetention: *retention,
	})
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Printed after Listen succeeded, so a reader may connect at once.
	fmt.Printf("GITLAB_URL=%s GITLAB_TOKEN=%s\n", base, *token)

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Print(err)
		}
	}
}
