package sim

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A SIP stack's socket answers what RFC 3261 says no stack takes, before
// the stack sees it (issue 11 item 10): 505 to another version, 400 naming
// the missing mandatory headers; a well-formed request still reaches the
// handler. Every answer is traced, every refusal is an error event.
func TestSIPGuard(t *testing.T) {
	n := newTestNet(t)
	pbx := addNode(t, n, "pbx", "127.20.51.1")
	rogue := addNode(t, n, "rogue", "127.20.51.9")
	var served atomic.Int32
	st := optionsStack(t, pbx, 5060, &served)
	c, err := rogue.ListenPacket(6001)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	via := "Via: SIP/2.0/UDP 127.20.51.9:6001;branch=z9hG4bK-guard\r\n"
	full := via + "From: <sip:r@127.20.51.9>;tag=1\r\nTo: <sip:pbx@127.20.51.1>\r\nCall-ID: g1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	for _, tc := range []struct {
		name, msg, want, event string
		header                 string // a header line the answer must carry
	}{
		{"SIP/3.0", "OPTIONS sip:pbx@127.20.51.1 SIP/3.0\r\n" + full, "SIP/2.0 505 Version Not Supported", "answered 505", ""},
		{"no Call-ID, From, To", "OPTIONS sip:pbx@127.20.51.1 SIP/2.0\r\n" + via + "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			"SIP/2.0 400 Bad Request (missing From, To, Call-ID)", "without From, To, Call-ID answered 400", ""},
		{"well-formed", "OPTIONS sip:pbx@127.20.51.1 SIP/2.0\r\n" + full, "SIP/2.0 200 OK", "", ""},
		// RFC 3261 §8.2.1: 405 lists what the stack serves.
		{"a method the stack does not serve", "MESSAGE sip:pbx@127.20.51.1 SIP/2.0\r\n" + strings.Replace(full, "1 OPTIONS", "1 MESSAGE", 1),
			"SIP/2.0 405 Method Not Allowed", "", "Allow: OPTIONS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var refused *Watch
			if tc.event != "" {
				refused = n.Trace().Watch(func(e Event) bool {
					return e.Kind == KindError && e.From == "pbx" && strings.Contains(e.Summary, tc.event)
				})
			}
			before := served.Load()
			if _, err := c.WriteToAddrPort([]byte(tc.msg), st.Addr); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, _, err := c.ReadFromAddrPort(buf)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if first, _, _ := strings.Cut(string(buf[:k]), "\r\n"); first != tc.want {
				t.Fatalf("answer %q, want %q", first, tc.want)
			}
			if tc.header != "" && !strings.Contains(string(buf[:k]), "\r\n"+tc.header+"\r\n") {
				t.Fatalf("answer lacks %q:\n%s", tc.header, buf[:k])
			}
			if refused != nil {
				waitWatch(t, refused)
				if served.Load() != before {
					t.Fatal("the handler saw a request the guard refused")
				}
			} else if tc.want == "SIP/2.0 200 OK" && served.Load() != before+1 {
				t.Fatal("the handler did not see the well-formed request")
			}
		})
	}
}

func waitWatch(t *testing.T, w *Watch) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := w.Wait(ctx)
	if err != nil {
		t.Fatalf("waiting for the error event: %v", err)
	}
	return e
}

// FuzzSIPGuard: any datagram; the guard never panics, and what it answers
// is a SIP/2.0 response.
func FuzzSIPGuard(f *testing.F) {
	f.Add([]byte("OPTIONS sip:a@b SIP/3.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n\r\n"))
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Add([]byte("ACK sip:a@b SIP/9\r\nVia: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		reply, _ := sipGuard(b)
		if reply != nil && !strings.HasPrefix(string(reply), "SIP/2.0 ") {
			t.Fatalf("reply %q", reply)
		}
	})
}

// FuzzClassifySummarize: any datagram or TCP chunk the trace may see is
// classified and summarised without a panic, in lines without a newline
// (a trace line stays one line, whatever a peer sent).
func FuzzClassifySummarize(f *testing.F) {
	f.Add([]byte("INVITE sip:1001@127.20.1.1:7300 SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nCSeq: 7 UPDATE\r\n\r\n"))
	f.Add([]byte("GET /record?page=START HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte{0x80, 8, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0xd5})
	n := &Network{summarizers: defaultSummarizers}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := classifyUDP(b)
		for _, proto := range []Proto{p, ProtoHTTP, ProtoSIP, ProtoOther} {
			for _, line := range n.summarize(proto, b) {
				if strings.ContainsAny(line, "\r\n") {
					t.Fatalf("%s summary %q has a line break", proto, line)
				}
			}
		}
	})
}
