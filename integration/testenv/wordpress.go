package testenv

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// WordPressServer is a running WordPress 6.1 (Debian's package) on a private MariaDB,
// served by PHP's built-in server, with an administrator and an application password
// for it, in WP_ENVIRONMENT_TYPE local so that application passwords work over http.
type WordPressServer struct {
	URL string
	// Admin is the administrator's login, AdminID its user id.
	Admin, AdminID string
	// AppPassword is the administrator's application password.
	AppPassword string
	// Token is what the wordpress preset's token is: the Authorization header
	// "Basic base64(admin:application password)".
	Token string
	// DBSocket, DBUser and DBPassword reach the instance's database, for what no
	// HTTP API of WordPress does (a login changed as a plugin would).
	DBSocket, DBUser, DBPassword string
	Dir                          string
}

// Do calls WordPress's REST API as its administrator, behind the plugin's back. route
// is a REST route with an optional query ("/wp/v2/users?context=edit"); it is sent as
// ?rest_route=, which works whatever the site's permalinks.
func (w *WordPressServer) Do(tb testing.TB, method, route string, body any) (int, http.Header, []byte) {
	tb.Helper()
	path, query, _ := strings.Cut(route, "?")
	u := w.URL + "/?rest_route=" + url.QueryEscape(path)
	if query != "" {
		u += "&" + query
	}
	return doJSON(tb, http.DefaultClient, "wordpress", method, u, body, "Authorization", w.Token)
}

// SQL runs one statement on the instance's database and returns what it printed
// (tab-separated, without column names).
func (w *WordPressServer) SQL(tb testing.TB, stmt string) string {
	tb.Helper()
	cmd := exec.Command("mariadb", "--no-defaults", "--socket="+w.DBSocket, "-u", w.DBUser, "wordpress", "-N", "-e", stmt)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+w.DBPassword)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("testenv: wordpress SQL %q: %v: %s", stmt, err, errb.String())
	}
	return out.String()
}

var (
	wordpressOnce sync.Once
	wordpressSrv  *WordPressServer
	wordpressErr  error
)

// WordPress returns the WordPress of this test binary, installing it with apt-get
// (about two minutes cold) and starting it on first use (about 2 s).
func WordPress(tb testing.TB) *WordPressServer {
	tb.Helper()
	requireMain(tb)
	wordpressOnce.Do(func() {
		dir, env, err := startService("wordpress.sh", "caddy-scim-wordpress-", 15*time.Minute, 2*time.Minute)
		if err != nil {
			wordpressErr = err
			return
		}
		wordpressSrv = &WordPressServer{URL: env["WORDPRESS_URL"], Admin: env["WORDPRESS_ADMIN"], AdminID: env["WORDPRESS_ADMIN_ID"],
			AppPassword: env["WORDPRESS_APP_PASSWORD"], Token: env["WORDPRESS_AUTHORIZATION"],
			DBSocket: env["WORDPRESS_DB_SOCKET"], DBUser: env["WORDPRESS_DB_USER"], DBPassword: env["WORDPRESS_DB_PASSWORD"], Dir: dir}
		if wordpressSrv.URL == "" || wordpressSrv.Token == "" || wordpressSrv.AdminID == "" || wordpressSrv.DBSocket == "" {
			wordpressErr = fmt.Errorf("wordpress.sh start wrote an incomplete env file in %s", dir)
		}
	})
	if wordpressErr != nil {
		tb.Fatalf("testenv: starting wordpress: %v", wordpressErr)
	}
	return wordpressSrv
}
