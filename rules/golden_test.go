package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGoldenDiagnoses pins every field of the diagnosis (class, actor, rule,
// codes, stage, rendered fix) of each wording and finding case, so that a
// rule or template change shows up as a reviewable diff. Rewrite with
// go test ./rules -run TestGoldenDiagnoses -update.
func TestGoldenDiagnoses(t *testing.T) {
	e := mustDefault(t)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, name := range []string{"testdata/wordings.tsv", "testdata/findings.tsv"} {
		for _, c := range readCaseFile(t, name) {
			d := e.Run(c)
			if err := enc.Encode(struct {
				Case  string    `json:"case"`
				Input string    `json:"input"`
				D     Diagnosis `json:"diagnosis"`
			}{name + ":" + itoa(c.Line), c.Input.Reason, d}); err != nil {
				t.Fatal(err)
			}
		}
	}
	const golden = "testdata/diagnoses.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		got := bytes.Split(buf.Bytes(), []byte("\n"))
		wl := bytes.Split(want, []byte("\n"))
		for i := 0; i < len(got) || i < len(wl); i++ {
			var g, w []byte
			if i < len(got) {
				g = got[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if !bytes.Equal(g, w) {
				t.Fatalf("%s:%d differs (run with -update after checking):\n got %s\nwant %s", golden, i+1, g, w)
			}
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
