package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func refuse(w http.ResponseWriter, status int) {
	w.WriteHeader(status)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
		_, _ = io.WriteString(w, `{"detail":"an API key is required"}`)
		return
	}
	_, _ = io.WriteString(w, `{"detail":"this read key may not do this; it needs the ingest scope"}`)
}

func TestAPIKeyFromEnvironmentOrOption(t *testing.T) {
	t.Setenv(APIKeyEnv, " env-key\n")
	if got := string(NewClient("http://x").APIKey); got != "env-key" {
		t.Fatalf("from the environment: %q", got)
	}
	if got := string(NewClient("http://x", WithAPIKey("opt-key")).APIKey); got != "opt-key" {
		t.Fatalf("WithAPIKey: %q", got)
	}
	if got := NewClient("http://x", WithAPIKey("")).APIKey; got != "" {
		t.Fatalf("WithAPIKey(\"\") must send none: %q", string(got))
	}
	t.Setenv(APIKeyEnv, "")
	if got := NewClient("http://x").APIKey; got != "" {
		t.Fatalf("no environment: %q", string(got))
	}
}

func TestAPIKeyGoesWithEveryRequest(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		switch {
		case r.Path == "/api/grafana/sessions":
			_, _ = io.WriteString(w, "["+sessionJSON+"]")
		case r.Method == http.MethodGet:
			_, _ = io.WriteString(w, sessionJSON)
		default:
			writeOK(w, r)
		}
	})
	c := NewClient(f.URL, WithAPIKey("k-123"))
	id, err := c.CreateSession()
	must(t, err)
	must(t, c.LogEvent(id, "e", nil))
	_, err = c.GetSession(id)
	must(t, err)
	_, err = c.GetAllSessions()
	must(t, err)
	s := c.AttachSession(id, quick())
	m := s.StartMonitor(MonitorConfig{Timeout: time.Hour, CheckInterval: 10 * time.Millisecond})
	must(t, s.LogMetric("m", 1, nil))
	must(t, s.Flush(ctxT(t)))
	waitFor(t, 5*time.Second, func() bool { return countKeepalives(f.seen()) >= 2 }, "no keep-alives")
	m.Stop()
	must(t, s.End(ctxT(t)))

	paths := map[string]bool{}
	for _, r := range f.seen() {
		if r.Auth != "Bearer k-123" {
			t.Fatalf("%s %s carried %q", r.Method, r.Path, r.Auth)
		}
		paths[r.Path] = true
	}
	for _, p := range []string{"/api/sessions", "/api/batch", "/api/sessions/s-1/heartbeat", "/api/grafana/sessions"} {
		if !paths[p] {
			t.Fatalf("no request to %s: %v", p, paths)
		}
	}

	// A zero Client (and WithAPIKey("")) sends no header at all.
	f2 := newFake(t, nil)
	_, err = (&Client{BaseURL: f2.URL}).CreateSession()
	must(t, err)
	if r := f2.seen()[0]; r.Auth != "" {
		t.Fatalf("zero client sent %q", r.Auth)
	}
}

func TestAuthErrorsAreTypedAndNeverRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		if r.Auth == "" || r.Auth == "Bearer unknown" {
			refuse(w, http.StatusUnauthorized)
			return
		}
		refuse(w, http.StatusForbidden)
	})
	_, err := NewClient(f.URL, WithAPIKey("")).CreateSession()
	var api *APIError
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) || !errors.As(err, &api) || api.Status != 401 {
		t.Fatalf("401: %v", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "datacat: authentication failed (401): ") ||
		!strings.Contains(msg, "WithAPIKey") || !strings.Contains(msg, APIKeyEnv) {
		t.Fatalf("401 without a key: %q", msg)
	}
	err = NewClient(f.URL, WithAPIKey("unknown")).LogEvent("s-1", "e", nil)
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), APIKeyEnv) {
		t.Fatalf("401 with a key: %v", err)
	}
	err = NewClient(f.URL, WithAPIKey("read-key")).LogMetric("s-1", "m", 1, nil)
	if !errors.Is(err, ErrForbidden) || errors.Is(err, ErrUnauthorized) || !strings.HasPrefix(err.Error(), "datacat: forbidden (403): ") {
		t.Fatalf("403: %v", err)
	}
	if retryable(err) || retryable(&APIError{Status: 401}) {
		t.Fatal("401/403 must not be retried")
	}
	if n := len(f.seen()); n != 3 {
		t.Fatalf("%d requests for 3 calls", n)
	}
}

func TestTheKeyIsNeverPrinted(t *testing.T) {
	const secret = "dc_supersecretvalue"
	c := NewClient("http://127.0.0.1:9", WithAPIKey(secret))
	shown := fmt.Sprintf("%v %+v %#v %s %q %v %+v %#v", c, c, c, c.APIKey, c.APIKey, *c, *c, *c)
	_, err := c.CreateSession() // nothing listens: a TransportError
	shown += err.Error() + fmt.Sprintf("%+v %#v", err, err)
	if strings.Contains(shown, secret) || strings.Contains(shown, "supersecret") {
		t.Fatalf("the key was printed: %s", shown)
	}
	if !strings.Contains(shown, "[redacted]") {
		t.Fatalf("the key field is not shown as redacted: %s", shown)
	}
}

func TestBatchSessionRefusedKeyIsReportedOnceAndNotRetried(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r recorded, n int) { refuse(w, status) })
			sentinel := ErrForbidden
			if status == http.StatusUnauthorized {
				sentinel = ErrUnauthorized
			}
			var mu sync.Mutex
			var reported []error
			cfg := quick()
			cfg.MaxBatchItems = 10 // 5 chunks: only the first is sent
			cfg.OnError = func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }
			s := NewClient(f.URL, WithAPIKey("k")).AttachSession("s-1", cfg)
			for i := 0; i < 50; i++ {
				must(t, s.LogMetric("m", float64(i), nil))
			}
			err := s.Flush(ctxT(t))
			var de *DeliveryError
			if !errors.As(err, &de) || !errors.Is(err, sentinel) {
				t.Fatalf("flush: %v", err)
			}
			// Later calls are refused at once; nothing more reaches the server.
			for i := 0; i < 5; i++ {
				if err := s.LogEvent("later", nil); !errors.Is(err, sentinel) {
					t.Fatalf("a call after the refusal: %v", err)
				}
			}
			if err := s.EndAs(ctxT(t), StatusCrashed); !errors.Is(err, sentinel) {
				t.Fatalf("end: %v", err)
			}
			if n := len(f.seen()); n != 1 {
				t.Fatalf("%d requests, want 1: a refused key was retried", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reported) != 1 || !errors.Is(reported[0], sentinel) || len(s.Errors()) != 1 {
				t.Fatalf("reported %v, errors %v", reported, s.Errors())
			}
			if st := s.Stats(); st.Dropped != 50+5+1 || st.Delivered != 0 || st.Queued != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestMonitorStopsKeepalivesAfterARefusal(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) { refuse(w, http.StatusForbidden) })
	var mu sync.Mutex
	var reported []error
	m := NewClient(f.URL, WithAPIKey("read-key")).StartMonitor("s-1", MonitorConfig{
		Timeout: time.Hour, CheckInterval: 10 * time.Millisecond,
		OnError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() },
	})
	waitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(reported) > 0 }, "no report")
	time.Sleep(200 * time.Millisecond) // 20 check intervals: a monitor that kept trying sends 20 more
	if !m.Running() {
		t.Fatal("the monitor stopped: hang detection must go on")
	}
	m.Stop()
	mu.Lock()
	defer mu.Unlock()
	if n := countKeepalives(f.seen()); n != 1 || len(reported) != 1 || !errors.Is(reported[0], ErrForbidden) {
		t.Fatalf("%d keep-alives, reported %v", n, reported)
	}
	if !strings.Contains(reported[0].Error(), "keep-alives stopped") {
		t.Fatalf("report: %v", reported[0])
	}
}
