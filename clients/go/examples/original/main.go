// A program written against the original datacat Go client's API; only the import path
// differs. Usage: go run ./examples/original [base-url]  (default http://localhost:8080)
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/datacat/datacat/clients/go/client"
)

func main() {
	baseURL := "http://localhost:8080"
	if len(os.Args) > 1 {
		baseURL = os.Args[1]
	}
	c := client.NewClient(baseURL)

	sessionID, err := c.CreateSession()
	if err != nil {
		log.Fatalf("create session: %v", err)
	}
	fmt.Println("session:", sessionID)

	if err := c.UpdateState(sessionID, map[string]interface{}{
		"application": map[string]interface{}{"status": "running"},
		"window_state": map[string]interface{}{
			"open": []string{"main", "space probe"},
		},
	}); err != nil {
		log.Fatalf("update state: %v", err)
	}
	if err := c.UpdateState(sessionID, map[string]interface{}{
		"window_state": map[string]interface{}{"active": "main"},
	}); err != nil {
		log.Fatalf("update state: %v", err)
	}
	if err := c.LogEvent(sessionID, "started", map[string]interface{}{"user": "alice"}); err != nil {
		log.Fatalf("log event: %v", err)
	}
	if err := c.LogMetric(sessionID, "cpu_usage", 45.2, []string{"host:server1"}); err != nil {
		log.Fatalf("log metric: %v", err)
	}
	if err := c.LogMetric(sessionID, "memory_usage", 512, nil); err != nil {
		log.Fatalf("log metric: %v", err)
	}

	session, err := c.GetSession(sessionID)
	if err != nil {
		log.Fatalf("get session: %v", err)
	}
	windows := session.State["window_state"].(map[string]interface{})
	fmt.Println("active:", session.Active)
	fmt.Println("window_state.open:", windows["open"])
	fmt.Println("window_state.active:", windows["active"])
	fmt.Println("events:", len(session.Events), session.Events[0].Name)
	fmt.Println("metrics:", len(session.Metrics), session.Metrics[0].Name, session.Metrics[0].Value)

	if err := c.EndSession(sessionID); err != nil {
		log.Fatalf("end session: %v", err)
	}
	session, err = c.GetSession(sessionID)
	if err != nil {
		log.Fatalf("get session: %v", err)
	}
	fmt.Println("ended:", !session.Active, session.EndedAt != nil)

	all, err := c.GetAllSessions()
	if err != nil {
		log.Fatalf("get all sessions: %v", err)
	}
	found := false
	for _, s := range all {
		if s.ID == sessionID {
			found = true
		}
	}
	fmt.Println("in all sessions:", found)
}
