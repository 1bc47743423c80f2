package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// fakeQMP serves the QMP conversation on c: a greeting, then for each
// command an event followed by the reply answer returns for it; a nil
// reply closes the connection.
func fakeQMP(c net.Conn, answer func(cmd string) map[string]any) {
	defer c.Close()
	fmt.Fprintln(c, `{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}`)
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		var req struct {
			Execute string `json:"execute"`
			ID      any    `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return
		}
		reply := answer(req.Execute)
		if reply == nil {
			return
		}
		reply["id"] = req.ID
		b, _ := json.Marshal(reply)
		fmt.Fprintf(c, "{\"event\": \"RESET\", \"data\": {\"guest\": true}}\r\n%s\r\n", b)
	}
}

func TestQMPClient(t *testing.T) {
	client, server := net.Pipe()
	go fakeQMP(server, func(cmd string) map[string]any {
		switch cmd {
		case "qmp_capabilities":
			return map[string]any{"return": map[string]any{}}
		case "query-status":
			return map[string]any{"return": map[string]any{"status": "running"}}
		case "quit":
			return nil
		}
		return map[string]any{"error": map[string]any{"class": "CommandNotFound", "desc": "The command " + cmd + " has not been found"}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := newQMPClient(ctx, client)
	if err != nil {
		t.Fatalf("newQMPClient: %v", err)
	}
	defer q.Close()

	var st struct {
		Status string `json:"status"`
	}
	if err := q.execute(ctx, "query-status", nil, &st); err != nil || st.Status != "running" {
		t.Fatalf("query-status = %+v, %v", st, err)
	}
	err = q.execute(ctx, "bogus", map[string]int{"x": 1}, nil)
	var qe *qmpError
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Fatalf("bogus command: %v, want a CommandNotFound qmpError", err)
	}
	if err := q.execute(ctx, "quit", nil, nil); !errors.Is(err, errQMPClosed) {
		t.Fatalf("command on a connection QEMU closed: %v, want errQMPClosed", err)
	}
	select {
	case <-q.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after the connection closed")
	}
	if err := q.execute(ctx, "query-status", nil, nil); !errors.Is(err, errQMPClosed) {
		t.Errorf("command after close: %v, want errQMPClosed", err)
	}
}

func TestQMPNoGreeting(t *testing.T) {
	client, server := net.Pipe()
	go func() {
		fmt.Fprintln(server, `{"hello": 1}`)
		server.Close()
	}()
	if _, err := newQMPClient(context.Background(), client); err == nil {
		t.Fatal("a socket that does not greet with QMP was accepted")
	}
}
