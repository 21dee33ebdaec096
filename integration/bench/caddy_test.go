package bench_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/integration/testenv"
)

// caddyProc is a Caddy started for the benchmark. Unlike testenv.StartCaddy it runs
// with Caddy's defaults (INFO level, no access log) and logs to a file, so that the
// numbers are those of a production-like config and the test process does not buffer
// hundreds of thousands of log lines.
type caddyProc struct {
	URL, Admin string
	Log        string
	cmd        *exec.Cmd
}

func startCaddy(t *testing.T, site string, env ...string) *caddyProc {
	t.Helper()
	return startCaddyBin(t, "", site, env...)
}

// startCaddyBin is startCaddy with another Caddy build (bin; "" is this one).
func startCaddyBin(t *testing.T, bin, site string, env ...string) *caddyProc {
	t.Helper()
	if bin == "" {
		bin = testenv.CaddyBinary(t)
	}
	port, admin := testenv.FreePort(t), testenv.FreePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n}\n\nhttp://127.0.0.1:%d {\n%s\n}\n", admin, port, site)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		t.Fatal(err)
	}
	c := &caddyProc{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Admin: fmt.Sprintf("http://127.0.0.1:%d", admin), Log: logf.Name()}
	c.cmd = exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	c.cmd.Env = append(append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir), env...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		logf.Close()
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(c.Admin + "/config/")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			conn.Close()
			return c
		}
	}
	b, _ := os.ReadFile(c.Log)
	t.Fatalf("caddy did not start:\n%s", b)
	return nil
}

func (c *caddyProc) pid() int { return c.cmd.Process.Pid }

// stop ends the instance now (the cleanup then finds it gone).
func (c *caddyProc) stop() {
	_ = c.cmd.Process.Kill()
	_, _ = c.cmd.Process.Wait()
}
