package reports

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumPath finds Debian's chromium, installing it when this is a
// root Debian machine (as .ci/run does). It skips the test with one line
// only where chromium is missing and cannot be installed; under CI=true a
// missing chromium fails the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	why := "chromium is not installed"
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if path, lerr := exec.LookPath("/usr/bin/chromium"); err == nil && lerr == nil {
			return path
		}
		why += " and apt-get install chromium failed: " + lastLine(out)
	} else {
		why += " and cannot be installed here (not root, or no apt-get)"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// browse loads page in headless chromium, returns the screenshot and the
// console messages chromium logged (lines with CONSOLE in its log).
func browse(t *testing.T, chromium, page string) ([]byte, []string) {
	t.Helper()
	dir := t.TempDir()
	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	abs, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+shot, "--window-size=1280,2400",
		"--enable-logging=stderr", "--v=0", "file://"+abs)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	var console []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "CONSOLE") {
			console = append(console, line)
		}
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, stderr.String())
	}
	return png, console
}

// checkScreenshot asserts a real, non-blank PNG.
func checkScreenshot(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	bounds := img.Bounds()
	if bounds.Dx() < 100 || bounds.Dy() < 100 {
		t.Fatalf("screenshot is %v", bounds)
	}
	colours := map[[3]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 7 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	if len(colours) < 8 {
		t.Errorf("screenshot looks blank: %d colours", len(colours))
	}
}

// TestBrowser renders the HTML reports (real-postfix, the genlog sample,
// hostile text), loads them in headless chromium, and fails on any
// console message (script errors, blocked requests, CSP violations) or a
// blank screenshot. A control page first proves that chromium reports
// console messages here, so the check cannot pass vacuously.
// PFDIAG_SCREENSHOT_DIR keeps the screenshots for a look.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	chromium := chromiumPath(t)
	dir := t.TempDir()

	control := filepath.Join(dir, "control.html")
	os.WriteFile(control, []byte(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head>`+
		`<body><p>control</p><img src="http://example.invalid/x.png" alt=""></body></html>`), 0o644)
	if _, console := browse(t, chromium, control); len(console) == 0 {
		t.Fatal("chromium logged no console message for a page with a blocked request: the check would prove nothing")
	}

	eng := engine(t)
	pages := map[string]*Report{
		"real-postfix": fromIndex(t, ingest(t, eng, 2025, "../testdata/corpus/real-postfix/mail.log"), Options{Rules: eng, Now: testNow, Loc: time.UTC}),
		"hostile":      hostileReport(t),
	}
	if _, err := os.Stat(genlogScript); err == nil {
		log, _ := genlog(t)
		pages["genlog"] = fromIndex(t, ingest(t, eng, 2024, log), Options{Rules: eng, Now: testNow, Loc: time.UTC})
	}
	keep := os.Getenv("PFDIAG_SCREENSHOT_DIR")
	for name, r := range pages {
		t.Run(name, func(t *testing.T) {
			page := filepath.Join(dir, name+".html")
			var b bytes.Buffer
			if err := WriteHTML(&b, r); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			shot, console := browse(t, chromium, page)
			for _, c := range console {
				t.Errorf("console: %s", c)
			}
			checkScreenshot(t, shot)
			if keep != "" {
				os.WriteFile(filepath.Join(keep, name+".png"), shot, 0o644)
			}
		})
	}
}
