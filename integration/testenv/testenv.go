// Package testenv starts the real services the integration tests run against (Gitea,
// Redis), one of each per test binary, through the scripts in integration/scripts. It
// never fakes a service: a test that needs Gitea talks to a real Gitea.
//
// A package that uses it must run its tests through Main, which stops the services
// when the tests are done:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// The scripts also stop a server when the test binary dies without reaching Shutdown
// (timeout panic, signal), so no process outlives its tests.
package testenv

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	mu        sync.Mutex
	mainUsed  bool
	stoppers  []func()
	setupTime = map[string]time.Duration{}
)

// Main runs the tests of m, then Shutdown, and exits with the tests' status.
func Main(m *testing.M) {
	mu.Lock()
	mainUsed = true
	mu.Unlock()
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

// Shutdown stops every service this test binary started and removes their work
// directories. It is safe to call more than once.
func Shutdown() {
	mu.Lock()
	s := stoppers
	stoppers = nil
	mu.Unlock()
	for i := len(s) - 1; i >= 0; i-- {
		s[i]()
	}
}

func onShutdown(f func()) {
	mu.Lock()
	stoppers = append(stoppers, f)
	mu.Unlock()
}

func requireMain(tb testing.TB) {
	tb.Helper()
	mu.Lock()
	ok := mainUsed
	mu.Unlock()
	if !ok {
		tb.Fatal("testenv: the package must run its tests through testenv.Main: func TestMain(m *testing.M) { testenv.Main(m) }")
	}
}

// UniqueName returns prefix followed by a short random suffix, so that names made by
// tests do not collide across runs against a long-lived server. The result is a valid
// Gitea username when prefix is one (lowercase letters and digits are added).
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// scriptPath returns integration/scripts/<name>, found from this source file so that
// tests work from any package directory.
func scriptPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "scripts", name)
}

// runScript runs a script and returns its combined output for error messages.
func runScript(timeout time.Duration, name string, args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{scriptPath(name)}, args...)...)
	cmd.Env = append(os.Environ(), "WATCH_PID="+strconv.Itoa(os.Getpid()))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s %s: timed out after %s", name, strings.Join(args, " "), timeout)
	}
}

// freePort asks the kernel for a free loopback port. Another process may take it
// before the server binds it; callers retry on a start failure.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readEnvFile parses the KEY=VALUE file the scripts write.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			env[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return env, sc.Err()
}

// startService installs (once per call) and starts a service through its script on a
// free port, retrying with a new port when the start fails; it returns the work
// directory and the script's env file.
func startService(script, tmpPrefix string, installTimeout, startTimeout time.Duration) (string, map[string]string, error) {
	return startServicePorts(script, tmpPrefix, installTimeout, startTimeout, 1)
}

// startServicePorts is startService for a script whose start takes nPorts ports.
func startServicePorts(script, tmpPrefix string, installTimeout, startTimeout time.Duration, nPorts int) (string, map[string]string, error) {
	t0 := time.Now()
	if out, err := runScript(installTimeout, script, "install"); err != nil {
		return "", nil, fmt.Errorf("%s install: %v\n%s", script, err, out)
	}
	t1 := time.Now()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir, err := os.MkdirTemp("", tmpPrefix)
		if err != nil {
			return "", nil, err
		}
		args := []string{"start", dir}
		for range nPorts {
			port, err := freePort()
			if err != nil {
				os.RemoveAll(dir)
				return "", nil, err
			}
			args = append(args, strconv.Itoa(port))
		}
		out, err := runScript(startTimeout, script, args...)
		if err != nil {
			_, _ = runScript(time.Minute, script, "stop", dir)
			os.RemoveAll(dir)
			lastErr = fmt.Errorf("%s start: %v\n%s", script, err, out)
			continue
		}
		env, err := readEnvFile(filepath.Join(dir, "env"))
		if err != nil {
			_, _ = runScript(time.Minute, script, "stop", dir)
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("%s start: reading env: %v\n%s", script, err, out)
		}
		onShutdown(func() {
			_, _ = runScript(time.Minute, script, "stop", dir)
			os.RemoveAll(dir)
		})
		mu.Lock()
		setupTime[script+" install"] = t1.Sub(t0)
		setupTime[script+" start"] = time.Since(t1)
		mu.Unlock()
		return dir, env, nil
	}
	return "", nil, lastErr
}

// SetupTimes reports how long the install and start steps of each service took in
// this test binary, for logs and benchmarks.
func SetupTimes() map[string]time.Duration {
	mu.Lock()
	defer mu.Unlock()
	m := make(map[string]time.Duration, len(setupTime))
	for k, v := range setupTime {
		m[k] = v
	}
	return m
}
