package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Fields are the values a fix template can name, as {{.Name}} or
// {{.Name|text used when the log has no value}}. Named groups of a rule's
// extract: regexp are available the same way ({{.file}}).
var Fields = []string{"Domain", "Relay", "RelayHost", "RelayIP", "IP", "Code", "Enhanced", "Stage", "Daemon", "Status", "DSN", "Text"}

// tmpl is a parsed fix template: literal text and field references. It is a
// deliberate subset of text/template's syntax: a fix is rendered per input on
// the hot path, and this renders with one allocation.
type tmpl struct {
	parts   []part
	src     string
	extract bool // a field refers to a named group of the rule's extract regexp
}

type part struct {
	lit      string
	field    string // "" for a literal
	fallback string
}

func parseTemplate(src string, groups []string) (tmpl, error) {
	t := tmpl{src: src}
	s := src
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			t.parts = append(t.parts, part{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: s[:i]})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return t, fmt.Errorf("unclosed {{ in template")
		}
		ref := strings.TrimSpace(s[i+2 : i+j])
		if strings.Contains(ref, "{{") {
			// A fallback is text: "{{.a|{{.b|x}}}}" would print braces.
			return t, fmt.Errorf("template reference %q: a fallback cannot hold another {{ }}", ref+"}}")
		}
		s = s[i+j+2:]
		name, fb, _ := strings.Cut(ref, "|")
		name = strings.TrimSpace(name)
		if !strings.HasPrefix(name, ".") {
			return t, fmt.Errorf("template reference %q: want {{.Field}} or {{.Field|fallback}}", ref)
		}
		name = name[1:]
		if !knownField(name, groups) {
			return t, fmt.Errorf("template field %q: not one of %s or a named group of extract", name, strings.Join(Fields, ", "))
		}
		t.parts = append(t.parts, part{field: name, fallback: strings.TrimSpace(fb)})
		if !knownField(name, nil) {
			t.extract = true
		}
	}
	return t, nil
}

func knownField(name string, groups []string) bool {
	for _, f := range Fields {
		if f == name {
			return true
		}
	}
	for _, g := range groups {
		if g == name && g != "" {
			return true
		}
	}
	return false
}

// maxFixFields bounds the values a fix's reuse check compares; templates
// with more field references are simply rendered every time.
const maxFixFields = 8

// values appends the values the template's fields take for this input, or
// returns nil when they cannot be compared cheaply.
func (t *tmpl) values(in *Input, f *facts, d *Diagnosis, dst []string) []string {
	if t.extract {
		return nil // named groups need the regexp run
	}
	for _, p := range t.parts {
		if p.field == "" {
			continue
		}
		if len(dst) == cap(dst) {
			return nil
		}
		dst = append(dst, fieldValue(p.field, in, f, nil, nil, d))
	}
	return dst
}

// varies reports whether the template uses values from the input.
func (t *tmpl) varies() bool {
	for _, p := range t.parts {
		if p.field != "" {
			return true
		}
	}
	return false
}

func (t *tmpl) render(in *Input, f *facts, extract *regexp.Regexp, d *Diagnosis) string {
	if len(t.parts) == 1 && t.parts[0].field == "" {
		return t.parts[0].lit
	}
	var sub []string
	if extract != nil {
		sub = extract.FindStringSubmatch(stripFraming(in.Reason))
	}
	var b strings.Builder
	b.Grow(len(t.src) + 32)
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
			continue
		}
		v := fieldValue(p.field, in, f, extract, sub, d)
		if v == "" {
			v = p.fallback
		}
		b.WriteString(v)
	}
	return b.String()
}

func fieldValue(name string, in *Input, f *facts, extract *regexp.Regexp, sub []string, d *Diagnosis) string {
	switch name {
	case "Domain":
		return f.domain
	case "Relay":
		if in.Relay != "" && in.Relay != "none" {
			return in.Relay
		}
		if f.relay != "" {
			return f.relay
		}
		return f.relayHost
	case "RelayHost":
		if f.relayHost == "none" {
			return ""
		}
		return f.relayHost
	case "RelayIP":
		return f.relayIP
	case "IP":
		return f.ip
	case "Code":
		if d.Code == 0 {
			return ""
		}
		return strconv.Itoa(d.Code)
	case "Enhanced":
		return d.Enhanced
	case "Stage":
		return d.Stage
	case "Daemon":
		return in.Daemon
	case "Status":
		return in.Status
	case "DSN":
		return in.DSN
	case "Text":
		return stripFraming(in.Reason)
	}
	if extract != nil && sub != nil {
		if i := extract.SubexpIndex(name); i > 0 && i < len(sub) {
			return sub[i]
		}
	}
	return ""
}
