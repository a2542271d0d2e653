package metrics

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry returns a new registry (never the global one) with m and the
// Go runtime and process collectors (process_cpu_seconds_total shows an
// idle tail costs nothing).
func Registry(m *Metrics) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Health is what /healthz reports. OK false answers 503.
type Health struct {
	OK     bool   `json:"ok"`
	Status string `json:"status"` // "reading", "caught up", or what went wrong
	Lines  int64  `json:"lines"`  // lines read by this process
	Source string `json:"source"`
	// LastCheckpoint is when the index last committed (RFC 3339, "" before).
	LastCheckpoint string `json:"last_checkpoint"`
}

// Handler serves /metrics from reg and /healthz from health (called on
// each request; it must be safe for concurrent use).
func Handler(reg *prometheus.Registry, health func() Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		h := health()
		w.Header().Set("Content-Type", "application/json")
		if !h.OK {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("pfdiag tail: /metrics (Prometheus), /healthz\n"))
	})
	return mux
}
