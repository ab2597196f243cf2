package tests

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// needChromium returns a Chromium (or Chrome) to drive, or skips the test
// where none is installed, except under CI, which installs it.
func needChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const why = "no Chromium installed (apt-get install chromium)"
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI must run this test", why)
	}
	t.Skip(why)
	return ""
}

// The status page, in a real browser: it renders a 3-node cluster's
// members, ring and security mode, and refreshes by itself, so a killed
// node turns down on the page without a reload.
func TestStatusPageInABrowser(t *testing.T) {
	chrome := needChromium(t)
	httpAddr := freePort(t)
	c := startCluster(t, 1, "--http", httpAddr)
	c.addNode()
	c.addNode()
	c.waitAllUp()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc() // ends the browser
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+httpAddr+"/"),
		chromedp.WaitVisible(`#members tr[data-member="n3"][data-state="up"]`),
	); err != nil {
		t.Fatalf("status page of n1: %v", err)
	}
	arcs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#ring path').length`))
	if err != nil {
		t.Fatal(err)
	}
	owners, err := chromedp.Run(ctx, chromedp.Evaluate[int](`new Set([...document.querySelectorAll('#ring path')].map(p => p.dataset.owner)).size`))
	if err != nil {
		t.Fatal(err)
	}
	summary, err := chromedp.Run(ctx, chromedp.Text(`#summary`))
	if err != nil {
		t.Fatal(err)
	}
	node, err := chromedp.Run(ctx, chromedp.Text(`#node`))
	if err != nil {
		t.Fatal(err)
	}
	if arcs != 64 || owners != 3 {
		t.Errorf("the ring shows %d arcs of %d owners, want 64 of 3", arcs, owners)
	}
	if !strings.Contains(summary, "3 members, 3 up") || !strings.Contains(node, "n1") {
		t.Errorf("summary %q, node %q", summary, node)
	}
	// A loopback node without TLS says so, rather than looking secure.
	security, err := chromedp.Run(ctx, chromedp.Text(`#security[data-security="loopback"]`))
	if err != nil || !strings.Contains(security, "security: loopback") || !strings.Contains(security, "no TLS") {
		t.Errorf("security line %q, %v; want loopback, no TLS", security, err)
	}

	c.kill(c.nodes[2])
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`#members tr[data-member="n3"][data-state="down"]`)); err != nil {
		t.Fatalf("n3 never turned down on the page: %v", err)
	}
	if summary, err = chromedp.Run(ctx, chromedp.Text(`#summary`)); err != nil || !strings.Contains(summary, "3 members, 2 up") {
		t.Errorf("after the kill: summary %q, %v", summary, err)
	}
}
