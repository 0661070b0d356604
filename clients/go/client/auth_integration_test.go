package client

// The API key against a real key-protected datacat server: set DATACAT_TEST_AUTH_URL,
// DATACAT_TEST_INGEST_KEY and DATACAT_TEST_READ_KEY. tests/clients/test_go_client.py
// starts one, makes its keys with `datacat keys create`, and sets them.

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func keyedServer(t *testing.T) (base, ingest, read string) {
	t.Helper()
	base = os.Getenv("DATACAT_TEST_AUTH_URL")
	ingest, read = os.Getenv("DATACAT_TEST_INGEST_KEY"), os.Getenv("DATACAT_TEST_READ_KEY")
	if base == "" || ingest == "" || read == "" {
		t.Skip("DATACAT_TEST_AUTH_URL and its keys are not set: no key-protected server")
	}
	return base, ingest, read
}

// seenRequest is one request the counting proxy forwarded, with the server's answer.
type seenRequest struct {
	Method, Path, Auth string
	Status             int
}

// countingProxy forwards every request to the server and records it: what the server
// saw is the proof that a refusal was not retried.
type countingProxy struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (p *countingProxy) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	must(t, err)
	forward := httputil.NewSingleHostReverseProxy(u)
	forward.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		p.mu.Lock()
		p.seen = append(p.seen, seenRequest{r.Method, r.URL.Path, r.Header.Get("Authorization"), resp.StatusCode})
		p.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(forward)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (p *countingProxy) requests(pathSuffix string) []seenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []seenRequest
	for _, r := range p.seen {
		if strings.HasSuffix(r.Path, pathSuffix) {
			out = append(out, r)
		}
	}
	return out
}

func TestIntegrationAPIKey(t *testing.T) {
	base, ingest, read := keyedServer(t)
	proxy := &countingProxy{}
	via := proxy.start(t, base)
	cfg := BatchConfig{FlushInterval: 20 * time.Millisecond, InitialBackoff: 10 * time.Millisecond}

	// An ingest key: direct calls, a BatchSession and its Monitor all carry it.
	writer := NewClient(via, WithAPIKey(ingest))
	s, err := writer.StartSession(ctxT(t), WithProduct("go-auth"), WithBatchConfig(cfg))
	must(t, err)
	s.StartMonitor(MonitorConfig{Timeout: time.Hour, CheckInterval: 20 * time.Millisecond})
	must(t, writer.LogEventCtx(ctxT(t), s.ID(), "direct", nil))
	must(t, s.UpdateState(map[string]interface{}{"phase": "load"}))
	for i := 0; i < 10; i++ {
		must(t, s.LogMetric("m", float64(i), nil))
	}
	waitFor(t, 10*time.Second, func() bool { return len(proxy.requests("/heartbeat")) >= 2 }, "no keep-alives")
	must(t, s.End(ctxT(t)))
	for _, r := range proxy.requests("") {
		if r.Auth != "Bearer "+ingest || r.Status != http.StatusOK {
			t.Fatalf("%s %s: %d, key sent: %v", r.Method, r.Path, r.Status, r.Auth == "Bearer "+ingest)
		}
	}
	if len(proxy.requests("/api/batch")) == 0 {
		t.Fatal("no batch went through the proxy")
	}

	// A read key reads what was written, and may not write: 403, once.
	reader := NewClient(via, WithAPIKey(read))
	got, err := reader.GetSession(s.ID())
	must(t, err)
	if len(got.Events) != 1 || got.Events[0].Name != "direct" || len(got.Metrics) != 10 || got.Status != "ended" {
		t.Fatalf("stored: %+v", got)
	}
	before := len(proxy.requests(""))
	if err := reader.LogEvent(s.ID(), "refused", nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a read key writing: %v", err)
	}
	refused := reader.AttachSession(s.ID(), cfg)
	refused.StartMonitor(MonitorConfig{Timeout: time.Hour, CheckInterval: 20 * time.Millisecond})
	for i := 0; i < 30; i++ {
		must(t, refused.LogMetric("m", float64(i), nil))
	}
	if err := refused.Flush(ctxT(t)); !errors.Is(err, ErrForbidden) {
		t.Fatalf("flush with a read key: %v", err)
	}
	if err := refused.LogMetric("later", 1, nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a call after the refusal: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // 10 flush and check intervals: nothing more is sent
	must(t, refused.Close(ctxT(t)))
	after := proxy.requests("")[before:]
	if len(after) != 3 { // the direct event, one batch, one keep-alive
		t.Fatalf("with a read key: %+v", after)
	}
	for _, r := range after {
		if r.Status != http.StatusForbidden {
			t.Fatalf("%s %s answered %d", r.Method, r.Path, r.Status)
		}
	}
	if st := refused.Stats(); st.Dropped != 31 || st.Delivered != 0 || len(refused.Errors()) != 1 {
		t.Fatalf("stats %+v errors %v", st, refused.Errors())
	}

	// No key: 401 saying how to give one; a revoked or unknown key: 401.
	_, err = NewClient(base, WithAPIKey("")).CreateSession()
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), APIKeyEnv) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := NewClient(base, WithAPIKey("dc_notakey")).GetAllSessions(); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("unknown key: %v", err)
	}

	// $DATACAT_API_KEY is NewClient's default.
	t.Setenv(APIKeyEnv, ingest)
	if _, err := NewClient(base).CreateSession(); err != nil {
		t.Fatalf("key from the environment: %v", err)
	}
}
