package metrics

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/pfdiag/pfdiag/rules"
)

// The example alerting rules in docs/alerts.yml use only metrics and
// labels pfdiag exports, and only categories the rules know.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("../../docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string
				Expr  string
			}
		}
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	// The metrics and their labels, from the collector's descriptions.
	labels := map[string][]string{}
	ch := make(chan *prometheus.Desc, 100)
	New(Options{}).Describe(ch)
	close(ch)
	descRE := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read %s", d)
		}
		var ls []string
		for _, l := range strings.Split(m[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				ls = append(ls, l)
			}
		}
		labels[m[1]] = append(ls, "instance", "job", "le")
	}
	if !slices.Contains(labels["pfdiag_deliveries_total"], "status") || len(labels) < 15 {
		t.Fatalf("descriptions not read: %v", labels)
	}
	eng, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	var cats []string
	for _, c := range eng.Categories() {
		cats = append(cats, c.ID)
	}
	use := regexp.MustCompile(`(pfdiag_[a-z_]+)(\{([^}]*)\})?`)
	matcher := regexp.MustCompile(`(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	n := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule without alert or expr: %+v", r)
			}
			for _, u := range use.FindAllStringSubmatch(r.Expr, -1) {
				name := u[1]
				base := name
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if _, ok := labels[name]; !ok && strings.HasSuffix(name, suf) {
						base = strings.TrimSuffix(name, suf)
					}
				}
				ls, ok := labels[base]
				if !ok {
					t.Errorf("%s: %s is not exported", r.Alert, name)
					continue
				}
				for _, m := range matcher.FindAllStringSubmatch(u[3], -1) {
					if !slices.Contains(ls, m[1]) {
						t.Errorf("%s: %s has no label %s", r.Alert, base, m[1])
					}
					if m[1] == "category" {
						for _, c := range strings.Split(m[3], "|") {
							if !slices.Contains(cats, c) {
								t.Errorf("%s: unknown category %q", r.Alert, c)
							}
						}
					}
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("%d rules", n)
	}
	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			t.Skip("promtool not installed (apt-get install prometheus): rules not checked by Prometheus itself")
		}
		if out, err := exec.Command(promtool, "check", "rules", "../../docs/alerts.yml").CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	})
}
