package client

import (
	"net/http"
	"testing"
	"time"
)

func countEvents(reqs []recorded, name string) int {
	n := 0
	for _, r := range reqs {
		if r.Path == "/api/sessions/s-1/events" && r.Body["name"] == name {
			n++
		}
		if r.Path == "/api/batch" {
			items, _ := r.Body["items"].([]interface{})
			for _, it := range items {
				if it.(map[string]interface{})["name"] == name {
					n++
				}
			}
		}
	}
	return n
}

func eventData(reqs []recorded, name string) map[string]interface{} {
	for _, r := range reqs {
		if r.Path == "/api/sessions/s-1/events" && r.Body["name"] == name {
			data, _ := r.Body["data"].(map[string]interface{})
			return data
		}
	}
	return nil
}

func countKeepalives(reqs []recorded) int {
	n := 0
	for _, r := range reqs {
		if r.Path == "/api/sessions/s-1/heartbeat" {
			n++
		}
	}
	return n
}

func TestMonitorHungOnceThenRecovered(t *testing.T) {
	f := newFake(t, nil)
	c := NewClient(f.URL)
	m := c.StartMonitor("s-1", MonitorConfig{Timeout: 150 * time.Millisecond, CheckInterval: 20 * time.Millisecond})
	defer m.Stop()

	// Beating keeps it quiet.
	for i := 0; i < 10; i++ {
		m.Heartbeat()
		time.Sleep(20 * time.Millisecond)
	}
	if n := countEvents(f.seen(), HungEvent); n != 0 || m.Hung() {
		t.Fatalf("hung while beating: %d", n)
	}
	// Silence: one hung event, however long it lasts.
	waitFor(t, 5*time.Second, func() bool { return countEvents(f.seen(), HungEvent) == 1 }, "no hung event")
	if !m.Hung() {
		t.Fatal("Hung() is false after the hung event")
	}
	time.Sleep(200 * time.Millisecond)
	if n := countEvents(f.seen(), HungEvent); n != 1 {
		t.Fatalf("%d hung events, want 1", n)
	}
	data := eventData(f.seen(), HungEvent)
	if data["timeout"] != 0.15 || data["seconds_since_heartbeat"].(float64) <= 0.15 {
		t.Fatalf("hung data %v", data)
	}
	// The next beat recovers, once.
	m.Heartbeat()
	m.Heartbeat()
	waitFor(t, 5*time.Second, func() bool { return countEvents(f.seen(), RecoveredEvent) == 1 }, "no recovered event")
	if data := eventData(f.seen(), RecoveredEvent); data["hung_for_seconds"].(float64) <= 0 {
		t.Fatalf("recovered data %v", data)
	}
	// Keep-alives flow all along, with the default server-side timeout max(30 s, 3 × interval).
	reqs := f.seen()
	if countKeepalives(reqs) < 5 {
		t.Fatalf("%d keep-alives", countKeepalives(reqs))
	}
	for _, r := range reqs {
		if r.Path == "/api/sessions/s-1/heartbeat" && r.Raw != `{"timeout":30}` {
			t.Fatalf("keep-alive body %s", r.Raw)
		}
	}
	m.Stop()
	m.Stop()
	if m.Running() {
		t.Fatal("running after Stop")
	}
	after := len(f.seen())
	time.Sleep(80 * time.Millisecond)
	if len(f.seen()) != after {
		t.Fatal("requests after Stop")
	}
	m.Heartbeat() // harmless after Stop
}

func TestMonitorKeepsGoingWhenServerFails(t *testing.T) {
	var errs int
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) { w.WriteHeader(500) })
	m := NewClient(f.URL).StartMonitor("s-1", MonitorConfig{
		Timeout: time.Hour, CheckInterval: 10 * time.Millisecond, KeepaliveTimeout: 5 * time.Second,
		OnError: func(error) { errs++ }, // called from the monitor goroutine only
	})
	waitFor(t, 5*time.Second, func() bool { return countKeepalives(f.seen()) >= 4 }, "keep-alives stopped after a failure")
	m.Stop()
	if errs < 3 {
		t.Fatalf("OnError called %d times", errs)
	}
	if r := f.seen()[0]; r.Raw != `{"timeout":5}` {
		t.Fatalf("keep-alive body %s", r.Raw)
	}
}

func TestBatchSessionMonitorQueuesEventsAndEndStopsIt(t *testing.T) {
	st := &store{}
	f := newFake(t, func(w http.ResponseWriter, r recorded, n int) {
		if r.Path == "/api/batch" {
			answerBatch(w, st, r)
			return
		}
		writeOK(w, r)
	})
	s := NewClient(f.URL).AttachSession("s-1", quick())
	s.Heartbeat() // no monitor yet: nothing happens
	m := s.StartMonitor(MonitorConfig{Timeout: 100 * time.Millisecond, CheckInterval: 20 * time.Millisecond})
	waitFor(t, 5*time.Second, func() bool { return countEvents(f.seen(), HungEvent) == 1 }, "no hung event")
	s.Heartbeat()
	waitFor(t, 5*time.Second, func() bool { return countEvents(f.seen(), RecoveredEvent) == 1 }, "no recovered event")
	must(t, s.End(ctxT(t)))
	if m.Running() {
		t.Fatal("End did not stop the monitor")
	}
	items := st.all()
	if last := items[len(items)-1]; last["op"] != "end" {
		t.Fatalf("last item %v", last)
	}
	if countKeepalives(f.seen()) < 2 {
		t.Fatal("no keep-alives")
	}
}
