package tuning

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Postconf is a Postfix configuration as `postconf -n` (explicit settings)
// or `postconf` (every parameter) prints it: "name = value" lines. A
// main.cf file is read the same way (comments and continuation lines are
// understood). The zero value is an empty configuration: every parameter
// has its Postfix default.
type Postconf struct {
	vals map[string]string
}

// ParsePostconf reads "name = value" lines. Blank lines, # comments and
// postconf's own "postconf: warning: …" lines are skipped; a line that
// starts with white space continues the previous value (main.cf syntax).
// Anything else is an error naming the file and line.
func ParsePostconf(r io.Reader, name string) (Postconf, error) {
	p := Postconf{vals: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	last := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case strings.HasPrefix(trimmed, "postconf:"):
			continue
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return Postconf{}, fmt.Errorf("%s:%d: continuation line without a parameter", name, n)
			}
			p.vals[last] = strings.TrimSpace(p.vals[last] + " " + trimmed)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !validParam(k) {
			return Postconf{}, fmt.Errorf("%s:%d: want \"name = value\" (the output of postconf -n)", name, n)
		}
		p.vals[k] = strings.TrimSpace(v)
		last = k
	}
	if err := sc.Err(); err != nil {
		return Postconf{}, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func validParam(k string) bool {
	if k == "" || len(k) > 200 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Known reports whether a configuration was given at all: without one,
// suggestions assume Postfix's defaults and say so.
func (p Postconf) Known() bool { return p.vals != nil }

// defaultOf returns Postfix's default (postconf(5), Postfix 3.x) for the
// parameters the suggestions reason about ("" for others). A switch, not a
// map: no package-level mutable state.
func defaultOf(name string) string {
	switch name {
	case "maximal_queue_lifetime", "bounce_queue_lifetime":
		return "5d"
	case "default_process_limit":
		return "100"
	case "default_destination_concurrency_limit":
		return "20"
	case "smtp_destination_concurrency_limit":
		return "$default_destination_concurrency_limit"
	case "default_destination_rate_delay":
		return "0s"
	case "smtp_destination_rate_delay":
		return "$default_destination_rate_delay"
	case "inet_protocols":
		return "all"
	case "smtp_address_preference":
		return "any"
	case "smtp_host_lookup":
		return "dns"
	}
	return ""
}

// Set returns the value explicitly set in the configuration, if any.
func (p Postconf) Set(name string) (string, bool) {
	v, ok := p.vals[name]
	return v, ok
}

// Get returns the effective value: the configured one or Postfix's
// default, with $name references expanded (a few levels deep).
func (p Postconf) Get(name string) string {
	v, ok := p.vals[name]
	if !ok {
		v = defaultOf(name)
	}
	for depth := 0; depth < 8 && strings.HasPrefix(v, "$"); depth++ {
		ref := strings.Trim(v[1:], "{}()")
		nv, ok := p.vals[ref]
		if !ok {
			nv = defaultOf(ref)
		}
		v = nv
	}
	return v
}

// Int returns the effective value as an integer, or def when it is not one.
func (p Postconf) Int(name string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(p.Get(name)))
	if err != nil {
		return def
	}
	return n
}

// Duration returns the effective value of a time parameter. unit is the
// parameter's default unit when the value has none (postconf(5): 'd' for
// the queue lifetimes, 's' for most others).
func (p Postconf) Duration(name string, unit byte) (time.Duration, bool) {
	return parseTime(p.Get(name), unit)
}

// parseTime reads a Postfix time value: a number with an optional unit
// s, m, h, d or w.
func parseTime(v string, unit byte) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if c := v[len(v)-1]; c < '0' || c > '9' {
		unit = c
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	var u time.Duration
	switch unit {
	case 's':
		u = time.Second
	case 'm':
		u = time.Minute
	case 'h':
		u = time.Hour
	case 'd':
		u = 24 * time.Hour
	case 'w':
		u = 7 * 24 * time.Hour
	default:
		return 0, false
	}
	return time.Duration(n * float64(u)), true
}

// fmtDays writes a duration in whole days as Postfix time value.
func fmtDays(d time.Duration) string {
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}
