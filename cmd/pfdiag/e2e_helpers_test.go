package main

// Table tests for the readers TestRealPostfix relies on: if they misread
// their input, the end-to-end assertions would pass or fail for the wrong
// reason.

import (
	"os"
	"strings"
	"testing"
)

func TestE2EMetrics(t *testing.T) {
	text := `# HELP pfdiag_lines_total Lines read.
# TYPE pfdiag_lines_total counter
pfdiag_lines_total{file="/var/log/mail.log"} 600
pfdiag_lines_total{file="/var/log/mail.log.1"} 5
pfdiag_deliveries_total{host="mail",status="sent"} 31
pfdiag_deliveries_total{host="mail",status="deferred"} 4.9e+01
pfdiag_deliveries_total{host="other",status="sent"} 1
pfdiag_active_problems 3
`
	m := e2eMetrics(text)
	tests := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"pfdiag_lines_total", nil, 605},
		{"pfdiag_deliveries_total", map[string]string{"status": "sent"}, 32},
		{"pfdiag_deliveries_total", map[string]string{"status": "deferred"}, 49},
		{"pfdiag_deliveries_total", map[string]string{"status": "sent", "host": "mail"}, 31},
		{"pfdiag_deliveries_total", map[string]string{"status": "bounced"}, 0},
		{"pfdiag_active_problems", nil, 3},
		{"pfdiag_missing_total", nil, 0},
	}
	for _, tt := range tests {
		if got := e2eSum(m, tt.name, tt.match); got != tt.want {
			t.Errorf("e2eSum(%s, %v) = %v, want %v", tt.name, tt.match, got, tt.want)
		}
	}
}

func TestE2EPostqueueP(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		want     map[string][2]int
		requests int
	}{
		{"empty", "Mail queue is empty\n", map[string][2]int{}, 0},
		{"all queues", `-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
8FFDEC2174*     361 Mon Nov 30 07:33:55  mailtest@mail.test.local
                                         ok@accept.test

91A94C2173!     394 Mon Nov 30 07:33:55  mailtest@mail.test.local
                                         localuser@mail.test.local

967FBC2175      385 Mon Nov 30 07:33:55  mailtest@mail.test.local
(host 127.0.0.1[127.0.0.1] said: 450 4.2.0 Greylisted)
                                         grey@strict.test

-- 2 Kbytes in 3 Requests.
`, map[string][2]int{"active": {1, 361}, "hold": {1, 394}, "deferred": {1, 385}}, 3},
		{"long ids", `----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------
4jdHQk6hpjz5nLk        412 Mon Nov 30 08:35:26 mailtest@mail.test.local
                  (connect to 192.0.2.1[192.0.2.1]:25: Network is unreachable)
                                         user@unreach.test

-- 1 Kbytes in 1 Request.
`, map[string][2]int{"deferred": {1, 412}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, requests := e2ePostqueueP(t, tt.text)
			if requests != tt.requests {
				t.Errorf("requests = %d, want %d", requests, tt.requests)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for q, w := range tt.want {
				if got[q] != w {
					t.Errorf("%s = %v, want %v", q, got[q], w)
				}
			}
		})
	}
}

// The committed real-postfix run: its postqueue.txt and mail.log, read by
// the same helpers, give the counts its README states.
func TestE2EReadersOnCorpus(t *testing.T) {
	txt, err := os.ReadFile("../../testdata/corpus/real-postfix/postqueue.txt")
	if err != nil {
		t.Skipf("no corpus copy: %v", err)
	}
	per, requests := e2ePostqueueP(t, string(txt))
	sum := 0
	for _, c := range per {
		sum += c[0]
	}
	if sum != requests || requests == 0 {
		t.Errorf("postqueue.txt: %v messages per queue, %d requests", per, requests)
	}
	logText, err := os.ReadFile("../../testdata/corpus/real-postfix/mail.log")
	if err != nil {
		t.Fatal(err)
	}
	log := strings.Split(strings.TrimSuffix(string(logText), "\n"), "\n")
	got := e2eLogCounts(log)
	// grep -c of the same file: status=sent 31, deferred 49, bounced 14,
	// qmgr "status=expired"/"status=force-expired" 2.
	want := map[string]int{"sent": 31, "deferred": 49, "bounced": 14, "expired": 2}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("e2eLogCounts[%s] = %d, want %d", k, got[k], v)
		}
	}
}
