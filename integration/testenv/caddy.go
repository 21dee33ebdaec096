package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	caddyOnce sync.Once
	caddyBin  string
	caddyErr  error
)

// CaddyBinary returns a Caddy built with this plugin: $CADDY_SCIM_CADDY_BIN when the
// test entry point (xcaddy.sh test) built one, else a build made now through
// xcaddy.sh from the working tree.
func CaddyBinary(tb testing.TB) string {
	tb.Helper()
	caddyOnce.Do(func() {
		if p := os.Getenv("CADDY_SCIM_CADDY_BIN"); p != "" {
			caddyBin = p
			return
		}
		root, err := repoRoot()
		if err != nil {
			caddyErr = err
			return
		}
		out := filepath.Join(os.TempDir(), fmt.Sprintf("caddy-scim-test-%d", os.Getpid()))
		cmd := exec.Command("bash", filepath.Join(root, "xcaddy.sh"), "build", "-o", out)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			caddyErr = fmt.Errorf("building caddy: %v\n%s", err, buf.String())
			return
		}
		caddyBin = out
	})
	if caddyErr != nil {
		tb.Fatal(caddyErr)
	}
	return caddyBin
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "xcaddy.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("xcaddy.sh not found above the test directory")
		}
		dir = parent
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	p, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Caddy is a running Caddy process.
type Caddy struct {
	URL    string // http://127.0.0.1:<port>
	Port   int
	Admin  string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *syncBuffer
	env    []string
	bin    string
	config string
}

// CaddyOptions configure StartCaddy.
type CaddyOptions struct {
	// Site is the body of the site block (directives), e.g. "scim { … }\nreverse_proxy …".
	Site string
	// Env is added to Caddy's environment, for {env.X} placeholders.
	Env []string
	// Quiet runs at Caddy's default INFO level without an access log, as in
	// production, for load runs whose debug logs would cost more than the requests.
	Quiet bool
}

// StartCaddy runs the plugin build with a Caddyfile whose single http:// site on a
// free port holds opt.Site. It stops the process when the test ends.
func StartCaddy(tb testing.TB, opt CaddyOptions) *Caddy {
	tb.Helper()
	bin := CaddyBinary(tb)
	port, admin := FreePort(tb), FreePort(tb)
	dir := tb.TempDir()
	level, access := "DEBUG", "\tlog\n"
	if opt.Quiet {
		level, access = "INFO", ""
	}
	cfg := fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n\tpersist_config off\n\tlog {\n\t\tlevel %s\n\t}\n}\n\nhttp://127.0.0.1:%d {\n%s%s\n}\n", admin, level, port, access, indent(opt.Site))
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	c := &Caddy{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port,
		Admin: fmt.Sprintf("http://127.0.0.1:%d", admin), dir: dir, log: &syncBuffer{}, env: opt.Env}
	c.bin, c.config = bin, path
	tb.Cleanup(c.Stop)
	c.run(tb)
	return c
}

// run starts the process and waits until it serves.
func (c *Caddy) run(tb testing.TB) {
	tb.Helper()
	c.cmd = exec.Command(c.bin, "run", "--config", c.config, "--adapter", "caddyfile")
	c.cmd.Env = append(append(os.Environ(), "HOME="+c.dir, "XDG_DATA_HOME="+c.dir, "XDG_CONFIG_HOME="+c.dir), c.env...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	cmd := c.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	c.exited = exited
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.Admin + "/config/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.Port)); err == nil {
					conn.Close()
					return
				}
			}
		}
		select {
		case <-exited:
			tb.Fatalf("caddy exited:\n%s", c.log.String())
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("caddy did not start:\n%s", c.log.String())
}

// DataDir is the process's XDG_DATA_HOME: Caddy's data directory is its "caddy"
// subdirectory (the embedded link store is caddy/scim/links.db).
func (c *Caddy) DataDir() string { return c.dir }

// Restart stops the process (SIGTERM, as a service manager does) and starts it again
// with the same config, environment and data directory (the embedded link store
// lives there).
func (c *Caddy) Restart(tb testing.TB) {
	tb.Helper()
	c.Stop()
	c.run(tb)
}

// Reload loads the same Caddyfile again through the admin API, forced (Caddy skips
// an unchanged config otherwise), as `caddy reload --force` does: every module is
// provisioned anew while the process stays.
func (c *Caddy) Reload(tb testing.TB) {
	tb.Helper()
	cfg, err := os.ReadFile(c.config)
	if err != nil {
		tb.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.Admin+"/load", bytes.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("reload: %d %s\n%s", resp.StatusCode, b, c.log.String())
	}
}

// Logs returns everything Caddy wrote so far.
func (c *Caddy) Logs() string { return c.log.String() }

// LogsContain waits up to two seconds for s to appear in the logs (Caddy writes them
// after it answered), and reports whether it did.
func (c *Caddy) LogsContain(s string) bool {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(c.Logs(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Stop ends the process: SIGTERM (Caddy shuts down gracefully, closing the link
// store), SIGKILL after 10 s.
func (c *Caddy) Stop() {
	if c.cmd == nil || c.cmd.Process == nil || c.exited == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// Kill ends the process at once (SIGKILL), as a crash would.
func (c *Caddy) Kill() {
	if c.cmd != nil && c.cmd.Process != nil && c.exited != nil {
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// StartCaddyExpectFailure runs Caddy with the site and returns its output, expecting
// it to refuse the config (for example an unset {env.X} secret).
func StartCaddyExpectFailure(tb testing.TB, opt CaddyOptions) string {
	tb.Helper()
	bin := CaddyBinary(tb)
	dir := tb.TempDir()
	cfg := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n\nhttp://127.0.0.1:%d {\n%s\n}\n", FreePort(tb), indent(opt.Site))
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(append(os.Environ(), "HOME="+dir), opt.Env...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
		if err == nil {
			tb.Fatalf("caddy accepted the config:\n%s", out)
		}
		return string(out)
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		tb.Fatalf("caddy kept running with a config it should refuse:\n%s", out)
	}
	return ""
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t" + l
		}
	}
	return strings.Join(lines, "\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PeakRSS is the Caddy process's resident-set high-water mark in MiB (see PeakRSS).
func (c *Caddy) PeakRSS() float64 { return PeakRSS(c.cmd.Process.Pid) }

// Pid is the Caddy process.
func (c *Caddy) Pid() int { return c.cmd.Process.Pid }

// CPUSeconds is the CPU time (user and system) process pid has used so far; 0 when
// it cannot be read.
func CPUSeconds(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// the command name may hold spaces: fields are counted after its closing ')'
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// PeakRSS reads VmHWM (the resident set's high-water mark) of a process, in MiB; 0
// when it cannot be read.
func PeakRSS(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
