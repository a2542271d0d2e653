package parser

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameParse reports how got (parsed into a reused Event) differs from
// want (parsed into a new one), or "".
func sameParse(got, want *Event) string {
	g, w := *got, *want
	g.scratch, w.scratch = nil, nil
	if !reflect.DeepEqual(g, w) {
		gv, wv := reflect.ValueOf(&g).Elem(), reflect.ValueOf(&w).Elem()
		for i := 0; i < gv.NumField(); i++ {
			gf, wf := fieldValue(gv.Field(i)), fieldValue(wv.Field(i))
			if !reflect.DeepEqual(gf, wf) {
				return fmt.Sprintf("field %s: %v, want %v", gv.Type().Field(i).Name, gf, wf)
			}
		}
		return "events differ"
	}
	return ""
}

// fieldValue returns the value of a field of an addressable struct,
// unexported ones included.
func fieldValue(f reflect.Value) any {
	return reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem().Interface()
}

// fillAll sets every field of a struct value to something not zero.
func fillAll(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanSet() {
			f = reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem()
		}
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint8:
			f.SetUint(7)
		case reflect.Float64:
			f.SetFloat(7)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]byte("x")))
		case reflect.Array:
			for j := 0; j < f.Len(); j++ {
				f.Index(j).SetFloat(7)
			}
		case reflect.Struct:
			if f.Type() == reflect.TypeOf(Event{}.Time) {
				f.Set(reflect.ValueOf(time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)))
			} else {
				fillAll(f)
			}
		default:
			panic("fillAll: field kind " + f.Kind().String())
		}
	}
}

// reuseLines are every line of the committed and shared corpora, the
// fuzz seeds and a few made to reach each parser's partial paths.
func reuseLines(t *testing.T) [][]byte {
	var lines [][]byte
	for _, root := range []string{"../testdata/corpus", "../../shared/corpus"} {
		if root == "../../shared/corpus" && !dirExists(root) {
			continue
		}
		for _, f := range corpusFiles(t, root) {
			lines = append(lines, bytes.Split(f.data, []byte{'\n'})...)
		}
	}
	for _, s := range seedLines {
		lines = append(lines, []byte(s))
	}
	h := "Nov 30 07:33:55 mail postfix/"
	for _, s := range []string{
		"smtp[1]: 967FBC2175: to=<a@b>, relay=x[1.2.3.4]:25, delay=1, delays=1/2/3/4, dsn=4.0.0",
		"qmgr[1]: 967FBC2175: from=<a@b>, size=12, nrcpt=1, status=expired, returned to sender",
		"qmgr[1]: 967FBC2175: from=<a@b>, size=12",
		"smtpd[1]: 967FBC2175: client=x[1.2.3.4]:25, sasl_method=PLAIN, sasl_username=u",
		"cleanup[1]: 967FBC2175: reject: header Subject: x from y[1.2.3.4]; from=<a> to=<b> proto=ESMTP helo=<h>: 5.7.1 no",
		"smtpd[1]: NOQUEUE: reject: RCPT from y[1.2.3.4]: 554 5.7.1 x; from=<a> to=<b> orig_to=<c> proto=ESMTP helo=<h>",
		"smtp[1]: 967FBC2175: host mx[1.2.3.4] said: 450 4.1.1 busy (in reply to RCPT TO command)",
		"smtp[1]: 967FBC2175: SASL authentication failed; server mx[1.2.3.4] said: 535 5.7.8 no",
		"smtp[1]: 967FBC2175: a@b, relay=x[1.2.3.4]:25, dsn=2.0.0, status=sent (ok)",
		"smtp[1]: 967FBC2175: a@b, relay=x[1.2.3.4]:25, dsn=2.0.0, status=",
		"postscreen[1]: DNSBL rank 3 for [1.2.3.4]:25",
		"postscreen[1]: PASS NEW [1.2.3.4]:25",
		"dnsblog[1]: addr 1.2.3.4 listed by domain zen.example as 127.0.0.2",
		"smtpd[1]: warning: 967FBC2175: hostname x does not resolve from unknown[1.2.3.4]: y",
		"master[1]: daemon started -- version 3.7.2, configuration /etc/postfix",
		"postsuper[1]: 967FBC2175: placed on hold",
		"postsuper[1]: 967FBC2175: removed",
		"postsuper[1]: Deleted: 3 messages",
		"bounce[1]: 967FBC2175: sender non-delivery notification: 0A1B2C3D4E",
		"pickup[1]: 967FBC2175: uid=0 from=<root>",
		"smtpd[1]: lost connection after RCPT from x[1.2.3.4]: y",
		"smtp[1]: TLS connection established to mx[1.2.3.4]:25: TLSv1.3",
		"smtpd[1]: SSL_accept error from x[1.2.3.4]: -1",
		"smtp[1]: connect to mx[1.2.3.4]:25: Connection timed out",
		"smtp[1]: connect to mx: x",
		"cleanup[1]: 967FBC2175: resent-message-id=<a@b>",
	} {
		lines = append(lines, []byte(h+s))
	}
	return lines
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// TestReusedEvent checks that parsing line after line into one Event,
// as a BatchReader does (with the timestamp hint), gives what parsing
// each into a new Event gives, in any order.
func TestReusedEvent(t *testing.T) {
	lines := reuseLines(t)
	rng := rand.New(rand.NewSource(1))
	var reused, fresh Event
	var hint stampHint
	for i := 0; i < 4*len(lines); i++ {
		l := lines[rng.Intn(len(lines))]
		if rng.Intn(4) == 0 {
			l = lines[(i/2)%len(lines)] // runs of neighbouring lines, for the hint
		}
		emitBatch(l, false, &reused, &hint)
		fresh = Event{}
		ParseInto(l, &fresh)
		if d := sameParse(&reused, &fresh); d != "" {
			t.Fatalf("%q parsed into a reused event: %s", l, d)
		}
	}
}

func TestReuseLinesReachEveryKind(t *testing.T) {
	seen := map[Kind]bool{}
	var ev Event
	for _, l := range reuseLines(t) {
		ParseInto(l, &ev)
		seen[ev.Kind] = true
	}
	var missing []string
	for _, k := range Kinds() {
		if !seen[k] {
			missing = append(missing, k.String())
		}
	}
	if len(missing) > 0 {
		t.Errorf("no line of kinds %s", strings.Join(missing, ", "))
	}
}

// TestReadersAgreeReused runs both readers over the corpora joined and
// repeated: long enough that a BatchReader reuses each batch's events
// many times (with the timestamp hint), which the short inputs of the
// other reader tests never do.
func TestReadersAgreeReused(t *testing.T) {
	var all []byte
	for _, root := range []string{"../testdata/corpus", "../../shared/corpus"} {
		if !dirExists(root) {
			continue
		}
		for _, f := range corpusFiles(t, root) {
			all = append(all, f.data...)
			if len(all) > 0 && all[len(all)-1] != '\n' {
				all = append(all, '\n')
			}
		}
	}
	for len(all) < 2<<20 {
		all = append(all, all...)
	}
	opts := Options{Ref: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Loc: time.UTC}
	a, err := readAllFrom("Reader", bytes.NewReader(all), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := readAllFrom("BatchReader", bytes.NewReader(all), opts)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, a, b)
}
