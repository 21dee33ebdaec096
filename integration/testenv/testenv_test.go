package testenv_test

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestGitea(t *testing.T) {
	g := testenv.Gitea(t)
	t.Logf("setup: %v", testenv.SetupTimes())
	if g2 := testenv.Gitea(t); g2 != g {
		t.Fatal("second call started another server")
	}
	resp, err := http.Get(g.URL + "/api/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}

	admin := g.GetUser(t, g.AdminName)
	if admin == nil || admin["is_admin"] != true {
		t.Fatalf("admin user: %v", admin)
	}

	name := testenv.UniqueName("hand")
	u := g.CreateUnmanagedUser(t, name, name+"@example.test")
	id := int64(u["id"].(float64))
	if u["login_name"] != "" || u["source_id"].(float64) != 0 {
		t.Fatalf("unmanaged user has login_name %v source_id %v", u["login_name"], u["source_id"])
	}
	if got := g.UserByID(t, id); got == nil || got["login"] != name {
		t.Fatalf("UserByID(%d) = %v", id, got)
	}
	found := false
	for _, x := range g.AdminListUsers(t, url.Values{"q": {name}}) {
		found = found || x["login"] == name
	}
	if !found {
		t.Fatalf("AdminListUsers(q=%s) misses the user", name)
	}
	if all := g.AdminListUsers(t, nil); len(all) < 2 {
		t.Fatalf("AdminListUsers(nil) = %d users", len(all))
	}
	g.DeleteUser(t, name)
	if got := g.GetUser(t, name); got != nil {
		t.Fatalf("user still there after DeleteUser: %v", got)
	}
	if got := g.UserByID(t, id); got != nil {
		t.Fatalf("UserByID after delete = %v", got)
	}
}

func TestRedis(t *testing.T) {
	r := testenv.Redis(t)
	c, err := net.DialTimeout("tcp", r.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(line) != "+PONG" {
		t.Fatalf("PING answered %q", line)
	}
}
