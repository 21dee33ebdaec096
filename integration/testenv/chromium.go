package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	chromiumOnce sync.Once
	chromiumPath string
	chromiumErr  error
)

// Chromium returns the path of a headless-capable Chromium, installing Debian's
// package on the first call (chromium.sh). Setup failures fail tb.
func Chromium(tb testing.TB) string {
	tb.Helper()
	chromiumOnce.Do(func() {
		if out, err := runScript(20*time.Minute, "chromium.sh", "install"); err != nil {
			chromiumErr = fmt.Errorf("chromium.sh install: %v\n%s", err, out)
			return
		}
		out, err := runScript(time.Minute, "chromium.sh", "path")
		if err != nil {
			chromiumErr = fmt.Errorf("chromium.sh path: %v\n%s", err, out)
			return
		}
		chromiumPath = strings.TrimSpace(out)
	})
	if chromiumErr != nil {
		tb.Fatalf("testenv: %v", chromiumErr)
	}
	return chromiumPath
}

// headless runs Chromium headless on url with extra flags and returns its stdout.
func headless(tb testing.TB, url string, flags ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := tb.TempDir() // its own profile: no state between runs
	args := append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + dir, "--window-size=1280,1800"}, flags...)
	cmd := exec.CommandContext(ctx, Chromium(tb), append(args, url)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("testenv: chromium on %s: %v\n%s", url, err, stderr.String())
	}
	return stdout.String()
}

// BrowserDOM loads url in headless Chromium and returns the DOM it rendered.
func BrowserDOM(tb testing.TB, url string) string {
	tb.Helper()
	return headless(tb, url, "--dump-dom")
}

// BrowserScreenshot loads url in headless Chromium and saves a PNG of it to file.
func BrowserScreenshot(tb testing.TB, url, file string) {
	tb.Helper()
	headless(tb, url, "--screenshot="+file, "--hide-scrollbars")
}
