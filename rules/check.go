package rules

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Case is one row of a wordings file: a reason text, the category it must
// get, optional context and where the wording was seen.
type Case struct {
	Input    Input
	Want     string
	Finding  bool   // classify with Finding (severity=… column present)
	Severity string // for findings
	Notes    string // free columns: where the wording was seen
	Line     int
}

// Miss is a case the engine got wrong.
type Miss struct {
	Case
	Got Diagnosis
}

// CheckResult summarises a check run.
type CheckResult struct {
	Total, Agreed int
	Misses        []Miss
}

// ReadCases reads a wordings file: tab-separated, one case per line, '#'
// starts a comment line. Column 1 is the reason text, column 2 the expected
// category; further columns of the form key=value set context (daemon=,
// status=, dsn=, relay=, domain=, severity= for an operational finding);
// any other column is a note (where the wording was seen). In the reason,
// \t and \\ stand for a tab and a backslash.
func ReadCases(r io.Reader, name string) ([]Case, error) {
	var out []Case
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 2 || strings.TrimSpace(cols[1]) == "" {
			return nil, fmt.Errorf("%s:%d: want at least two tab-separated columns: reason text, expected category", name, n)
		}
		c := Case{Input: Input{Reason: unescape(cols[0])}, Want: strings.TrimSpace(cols[1]), Line: n}
		var notes []string
		for _, col := range cols[2:] {
			k, v, ok := strings.Cut(col, "=")
			switch {
			case ok && k == "daemon":
				c.Input.Daemon = v
			case ok && k == "status":
				c.Input.Status = v
			case ok && k == "dsn":
				c.Input.DSN = v
			case ok && k == "relay":
				c.Input.Relay = v
			case ok && k == "domain":
				c.Input.Domain = v
			case ok && k == "severity":
				c.Finding, c.Severity = true, v
			default:
				if s := strings.TrimSpace(col); s != "" {
					notes = append(notes, s)
				}
			}
		}
		c.Notes = strings.Join(notes, "; ")
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return out, nil
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\t`, "\t", `\\`, `\`).Replace(s)
}

// Run classifies one case.
func (e *Engine) Run(c Case) Diagnosis {
	if c.Finding {
		return e.Finding(c.Severity, c.Input.Daemon, c.Input.Reason)
	}
	return e.Classify(c.Input)
}

// Check classifies every case and reports agreement and the misses.
func (e *Engine) Check(cases []Case) CheckResult {
	res := CheckResult{Total: len(cases)}
	for _, c := range cases {
		d := e.Run(c)
		if d.Category == c.Want {
			res.Agreed++
			continue
		}
		res.Misses = append(res.Misses, Miss{Case: c, Got: d})
	}
	return res
}
