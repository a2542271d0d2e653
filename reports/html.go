package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
)

//go:embed report.html.tmpl
var htmlTemplate string

// htmlFuncs are the template's helpers. Every function that returns log
// text (t, clip, counts, sender, join) first makes it inert as for a
// terminal (control characters and bidi overrides become visible escapes);
// html/template then escapes it for its context.
func htmlFuncs() template.FuncMap {
	return template.FuncMap{
		"t":       func(s string) string { return term(s, 0) },
		"clip":    term,
		"num":     num,
		"pct":     pct,
		"seconds": seconds,
		"size":    size,
		"stamp":   stamp,
		"span":    span,
		"code":    codeText,
		"inc":     func(i int) int { return i + 1 },
		"split":   func(s string) []string { return strings.Split(s, "+") },
		"counts":  func(c []Count, n int, total int64) string { return term(countsText(c, n, total), 0) },
		"pctl":    pctl,
		"sender":  senderName,
		"line":    lineText,
		"extra":   func(d Diagnosis, g Group) bool { return extraFix(&d, &g) },
		"join":    func(s []string) string { return strings.Join(s, ", ") },
		"pair":    func(title string, rows any) map[string]any { return map[string]any{"Title": title, "Rows": rows} },
	}
}

// htmlView is what the template renders: the report and the geometry of
// its charts, computed here so the template holds no arithmetic.
type htmlView struct {
	R       *Report
	Zone    string
	Filter  string
	Split   []svgRect
	Changes []change
	Chart   timelineChart
}

type svgRect struct {
	Class      string
	X, Y, W, H string
	Title      string
}

type change struct {
	ID, Rationale string
	Evidence      int64
	Files         []changeFile
}

type changeFile struct {
	Name  string
	Lines []string
}

type timelineBar struct {
	Title string
	Segs  []svgRect
}

type tick struct {
	X, Y  string
	Label string
}

type timelineChart struct {
	W, H, X0, Y0, YTop string
	Max                int64
	Per                string
	Bars               []timelineBar
	Ticks              []tick
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and SVG charts, no script, no external resource (a Content-Security-
// Policy of default-src 'none' makes sure), readable offline and printable.
// Log text is escaped by html/template after control characters were
// made visible.
func WriteHTML(w io.Writer, r *Report) error {
	tmpl, err := template.New("report").Funcs(htmlFuncs()).Parse(htmlTemplate)
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	v := htmlView{R: r, Zone: zone(r), Filter: windowText(&r.Filter)}
	v.Split = statusSplit(r)
	v.Changes = changes(r)
	v.Chart = chart(r.Timeline)
	return tmpl.Execute(w, &v)
}

// statusSplit is the horizontal bar of deliveries by status.
func statusSplit(r *Report) []svgRect {
	d := r.Summary.Deliveries
	if d.Total == 0 {
		return nil
	}
	var out []svgRect
	x := 0.0
	for _, s := range []struct {
		class string
		n     int64
	}{{"sent", d.Sent}, {"deferred", d.Deferred}, {"bounced", d.Bounced}, {"expired", d.Expired}} {
		if s.n == 0 {
			continue
		}
		w := 960 * float64(s.n) / float64(d.Total)
		out = append(out, svgRect{Class: s.class, X: f1(x), W: f1(w), Title: fmt.Sprintf("%s %s (%s)", s.class, num(s.n), pctOf(s.n, d.Total))})
		x += w
	}
	return out
}

// changes groups suggestion lines by change and file.
func changes(r *Report) []change {
	var out []change
	for _, s := range r.Suggestions {
		if len(out) == 0 || out[len(out)-1].ID != s.ID {
			out = append(out, change{ID: s.ID, Rationale: s.Rationale, Evidence: s.Evidence})
		}
		c := &out[len(out)-1]
		if len(c.Files) == 0 || c.Files[len(c.Files)-1].Name != s.File {
			c.Files = append(c.Files, changeFile{Name: s.File})
		}
		f := &c.Files[len(c.Files)-1]
		f.Lines = append(f.Lines, s.Line())
	}
	return out
}

// chart lays out the timeline: one stacked bar per hour (or per bucket of
// hours when there are many), deferred at the bottom, then bounced and
// expired.
func chart(rows []HourRow) timelineChart {
	const (
		width  = 960.0
		height = 220.0
		left   = 44.0
		top    = 14.0
		bottom = 24.0
	)
	rows, k := bucket(rows, 240)
	c := timelineChart{W: f1(width), H: f1(height), X0: f1(left), Y0: f1(height - bottom), YTop: f1(top + 4), Per: "hour"}
	if k > 1 {
		c.Per = fmt.Sprintf("%d hours", k)
	}
	c.Max = maxFailures(rows)
	if len(rows) == 0 {
		return c
	}
	plotH := height - bottom - top
	bw := (width - left) / float64(len(rows))
	every := max(1, len(rows)/8)
	for i, r := range rows {
		x := left + float64(i)*bw
		bar := timelineBar{Title: fmt.Sprintf("%s: %s deferred, %s bounced, %s expired, %s sent", r.Hour.Format("2006-01-02 15:04"),
			num(r.Deferred), num(r.Bounced), num(r.Expired), num(r.Sent))}
		y := height - bottom
		for _, s := range []struct {
			class string
			n     int64
		}{{"deferred", r.Deferred}, {"bounced", r.Bounced}, {"expired", r.Expired}} {
			if s.n == 0 || c.Max == 0 {
				continue
			}
			h := plotH * float64(s.n) / float64(c.Max)
			y -= h
			bar.Segs = append(bar.Segs, svgRect{Class: s.class, X: f1(x + bw*0.1), Y: f1(y), W: f1(max(bw*0.8, 0.5)), H: f1(h)})
		}
		c.Bars = append(c.Bars, bar)
		if i%every == 0 {
			label := r.Hour.Format("15:04")
			if i == 0 || r.Hour.Hour() < k || r.Hour.Format("2006-01-02") != rows[max(i-every, 0)].Hour.Format("2006-01-02") {
				label = r.Hour.Format("01-02 15:04")
			}
			c.Ticks = append(c.Ticks, tick{X: f1(x), Y: f1(height - 6), Label: label})
		}
	}
	return c
}
