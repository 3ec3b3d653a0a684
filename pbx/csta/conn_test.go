package csta

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// pipe returns two Conns joined by net.Pipe (in memory; this package opens no sockets).
func pipe(t *testing.T) (server, client *Conn) {
	t.Helper()
	a, b := net.Pipe()
	server, client = NewConn(a), NewConn(b)
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestConnSendRecvEveryType(t *testing.T) {
	server, client := pipe(t)
	sent := make(chan error, 1)
	go func() {
		for _, m := range examples {
			id := EventInvokeID
			if !IsEvent(m) {
				id = 1
			}
			if err := server.Send(id, m); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for _, want := range examples {
		id, got, err := client.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Recv = %#v, want %#v", got, want)
		}
		if IsEvent(want) != (id == EventInvokeID) {
			t.Fatalf("%s arrived with invokeID %d", want.Kind(), id)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

func TestConnRecvRecoversFromBadFrame(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	client := NewConn(b)
	defer client.Close()
	go func() {
		raw, _ := AppendFrame(nil, 5, []byte("<not xml"))
		good, _ := Encode(SystemStatus{Status: StatusNormal})
		raw, _ = AppendFrame(raw, 6, good)
		a.Write(raw)
		a.Close()
	}()
	id, m, err := client.Recv()
	if id != 5 || m != nil || !Recoverable(err) || !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("Recv = %d %v %v; want invokeID 5 and a recoverable ErrInvalidMessage", id, m, err)
	}
	id, m, err = client.Recv()
	if id != 6 || err != nil || m != (SystemStatus{Status: StatusNormal}) {
		t.Fatalf("Recv after the bad frame = %d %v %v", id, m, err)
	}
	if _, _, err := client.Recv(); err != io.EOF || Recoverable(err) {
		t.Fatalf("Recv at the end = %v, want io.EOF", err)
	}
}

// recordingConn counts Writes so the test can prove one Write per frame.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func TestConnSendIsOneWritePerFrameUnderConcurrency(t *testing.T) {
	rc := &recordingConn{}
	c := NewConn(rc)
	const senders, each = 8, 50
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range each {
				if err := c.Send(c.NextInvokeID(), SystemStatus{Status: StatusNormal}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(rc.writes) != senders*each {
		t.Fatalf("%d writes, want %d", len(rc.writes), senders*each)
	}
	seen := map[int]bool{}
	for _, w := range rc.writes {
		fr := NewFrameReader(bytes.NewReader(w))
		id, doc, err := fr.Next()
		if err != nil {
			t.Fatalf("write %q is not one frame: %v", w, err)
		}
		if _, _, err := fr.Next(); err != io.EOF {
			t.Fatalf("write %q holds more than one frame", w)
		}
		if _, err := Decode(doc); err != nil {
			t.Fatal(err)
		}
		seen[id] = true
	}
	if len(seen) != senders*each {
		t.Fatalf("%d distinct invokeIDs, want %d", len(seen), senders*each)
	}
}

func TestNextInvokeIDCycles(t *testing.T) {
	c := NewConn(&recordingConn{})
	for want := 1; want <= MaxInvokeID; want++ {
		if got := c.NextInvokeID(); got != want {
			t.Fatalf("NextInvokeID = %d, want %d", got, want)
		}
	}
	if got := c.NextInvokeID(); got != 1 {
		t.Fatalf("after 9998 NextInvokeID = %d, want 1", got)
	}
	c.lastID.Store(^uint32(0) - 1) // near the counter's wrap
	for range 4 {
		if got := c.NextInvokeID(); got < 1 || got > MaxInvokeID {
			t.Fatalf("NextInvokeID = %d at the counter wrap", got)
		}
	}
}

func TestCheckInvokeID(t *testing.T) {
	ev := examples[10]
	tests := []struct {
		id   int
		m    Message
		want string // "" for success
	}{
		{9999, ev, ""},
		{1, ev, "EstablishedEvent is an event and must use invokeID 9999, not 0001"},
		{1, MonitorStart{Device: "1"}, ""},
		{9998, &MonitorStart{Device: "1"}, ""},
		{9999, MonitorStart{Device: "1"}, "request MonitorStart must use an invokeID in 0001–9998, not 9999"},
		{0, SystemStatus{Status: StatusNormal}, "request SystemStatus must use"},
		{0, SystemStatusResponse{}, ""},
		{9999, ErrorResponse{Category: CategoryOperation, Value: OperationGeneric}, ""},
		{10000, MonitorStartResponse{CrossRefID: "1"}, "invokeID 10000 does not fit"},
		{1, nil, "nil message"},
	}
	for _, tt := range tests {
		err := CheckInvokeID(tt.id, tt.m)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckInvokeID(%d, %v) = %v", tt.id, tt.m, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckInvokeID(%d, %v) = %v, want %q", tt.id, tt.m, err, tt.want)
		}
	}
}

func TestSendRefusesBeforeWriting(t *testing.T) {
	rc := &recordingConn{}
	c := NewConn(rc)
	if err := c.Send(1, EstablishedEvent{}); err == nil {
		t.Fatal("Send of an event with invokeID 1 succeeded")
	}
	if err := c.Send(9999, EstablishedEvent{}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("Send of an empty event = %v, want ErrInvalidMessage", err)
	}
	if len(rc.writes) != 0 {
		t.Fatalf("refused sends wrote %q", rc.writes)
	}
}

type failingConn struct{ net.Conn }

func (failingConn) Write([]byte) (int, error) { return 0, net.ErrClosed }

func TestSendReportsWriteError(t *testing.T) {
	err := NewConn(failingConn{}).Send(3, MonitorStop{CrossRefID: "17"})
	if !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "csta: send MonitorStop 0003") {
		t.Fatalf("Send error = %v", err)
	}
}

func TestConnFrameLimit(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	c := NewConn(b)
	defer c.Close()
	c.SetFrameLimit(200)
	go func() {
		big, _ := Encode(examples[10])
		raw, _ := AppendFrame(nil, 9999, big)
		a.Write(raw)
		small, _ := Encode(SystemStatusResponse{})
		raw, _ = AppendFrame(nil, 7, small)
		a.Write(raw)
	}()
	if id, _, err := c.Recv(); id != 9999 || !errors.Is(err, ErrFrameTooLarge) || !Recoverable(err) {
		t.Fatalf("Recv of a frame over the limit = %d, %v", id, err)
	}
	if id, m, err := c.Recv(); id != 7 || err != nil || m != (SystemStatusResponse{}) {
		t.Fatalf("Recv after the skipped frame = %d %v %v", id, m, err)
	}
	if c.NetConn() != b {
		t.Fatal("NetConn is not the wrapped conn")
	}
}
