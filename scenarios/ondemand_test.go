package scenarios

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRecordKeyInThePcap runs the record-on-demand stories over http and
// https (spec §3.3) and reads their pcaps back with tshark: the record
// key's request sits after the call's EstablishedEvent and before the
// recorder's INVITE to the phone that pressed, and is answered 200. Over
// https the TLS handshake comes first and the request is unreadable until
// tshark is given the lab's key log (OUT/tls-keys.log): then it is a SOAP
// 1.1 POST with the variables substituted. The library's goldens (TestLibrary)
// cover the traces; this covers the packets.
func TestRecordKeyInThePcap(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		phone    string // the pressing phone's address
		port     int    // the recorder's endpoint
		method   string
		uri      string
		header   string   // a request header line, as tshark prints it
		body     []string // pieces of the request body
	}{
		{
			scenario: "start-on-demand-http", phone: "127.20.1.1", port: 8080, method: "GET",
			uri:    "/record?page=START&OPN=1001",
			header: "User-Agent: Mitel 7434 MAC:02007F140101",
		},
		{
			scenario: "start-on-demand-https-soap", phone: "127.20.1.2", port: 8443, method: "POST",
			uri:    "/record",
			header: `SOAPAction: "urn:reclab:recorder#Record"`,
			body:   []string{"<Extension>1002</Extension>", "<Remote>1001</Remote>", "<Direction>Incoming</Direction>"},
		},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if _, err := exec.LookPath("tshark"); err != nil {
				t.Fatal("tshark is not installed; .ci/run installs it (apt-get install tshark)")
			}
			s, err := Get(tc.scenario)
			if err != nil {
				t.Fatal(err)
			}
			res, out, err := run(t, s)
			if err != nil {
				t.Fatalf("%s failed: %v\n%s", tc.scenario, err, out)
			}
			https := tc.port == 8443
			keyLog := filepath.Join(filepath.Dir(res.Pcap), "tls-keys.log")
			shark := tshark{t: t, pcap: res.Pcap}
			if https {
				if n := len(shark.frames("http.request")); n != 0 {
					t.Errorf("without the key log tshark reads %d HTTP requests; the https press should be opaque", n)
				}
				shark.keyLog = keyLog
			}
			toRecorder := "ip.src == " + tc.phone + " && tcp.dstport == " + strconv.Itoa(tc.port)
			req := shark.one(toRecorder+" && http.request.method == \""+tc.method+"\"", "the record key's "+tc.method)
			ans := shark.one("ip.dst == "+tc.phone+" && tcp.srcport == "+strconv.Itoa(tc.port)+" && http.response.code == 200", "the recorder's 200")
			established := shark.first("tcp.srcport == 8882 && frame contains \"EstablishedEvent\"", "CSTA EstablishedEvent")
			invite := shark.first("sip.Method == \"INVITE\" && ip.src == 127.20.0.2 && ip.dst == "+tc.phone, "the recorder's INVITE to the phone")
			if !(established < req && req < invite && req < ans) {
				t.Errorf("pcap order: EstablishedEvent #%d, request #%d, INVITE #%d, answer #%d; want EstablishedEvent < request < INVITE and request < answer", established, req, invite, ans)
			}
			if https {
				hello := shark.one(toRecorder+" && tls.handshake.type == 1", "the phone's ClientHello")
				if !(established < hello && hello < req) {
					t.Errorf("pcap order: EstablishedEvent #%d, ClientHello #%d, request #%d; want the handshake between them", established, hello, req)
				}
			}
			frame := "frame.number == " + strconv.Itoa(req)
			if uri := shark.field(frame, "http.request.uri"); uri != tc.uri {
				t.Errorf("request URI %q, want %q", uri, tc.uri)
			}
			if h := shark.field(frame, "http.request.line"); !strings.Contains(h, tc.header) {
				t.Errorf("request headers %q lack %q", h, tc.header)
			}
			body := shark.field(frame, "http.file_data")
			for _, want := range tc.body {
				if !strings.Contains(body, want) {
					t.Errorf("request body lacks %q:\n%s", want, body)
				}
			}
			if n := len(shark.frames("_ws.malformed || _ws.expert.severity >= 0x00600000")); n != 0 {
				t.Errorf("pcap: %d malformed or warning frames", n)
			}
		})
	}
}

// tshark reads a pcap, with the lab's TLS key log when keyLog is set.
type tshark struct {
	t      *testing.T
	pcap   string
	keyLog string
}

// field is one field of the frames matching filter, tshark's -T fields
// output (a multi-valued field's values comma-separated).
func (s tshark) field(filter, field string) string {
	s.t.Helper()
	args := []string{"-r", s.pcap, "-Y", filter, "-T", "fields", "-e", field}
	if s.keyLog != "" {
		args = append(args, "-o", "tls.keylog_file:"+s.keyLog)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		s.t.Fatalf("tshark -Y %q -e %s: %v", filter, field, err)
	}
	return strings.TrimSpace(string(out))
}

// frames are the numbers of the frames matching filter, in order.
func (s tshark) frames(filter string) []int {
	s.t.Helper()
	var out []int
	for _, f := range strings.Fields(s.field(filter, "frame.number")) {
		n, err := strconv.Atoi(f)
		if err != nil {
			s.t.Fatalf("tshark: frame number %q", f)
		}
		out = append(out, n)
	}
	return out
}

// first is the first frame matching filter; none fails the test.
func (s tshark) first(filter, what string) int {
	s.t.Helper()
	fs := s.frames(filter)
	if len(fs) == 0 {
		s.t.Fatalf("pcap: no %s (%s)", what, filter)
	}
	return fs[0]
}

// one is the only frame matching filter; none or several fail the test.
func (s tshark) one(filter, what string) int {
	s.t.Helper()
	fs := s.frames(filter)
	if len(fs) != 1 {
		s.t.Fatalf("pcap: want one %s (%s), got frames %v", what, filter, fs)
	}
	return fs[0]
}

// TestGoldenEphemeralPorts: a port the OS picked for an outgoing TCP
// connection (in a recorder error naming the record key's source) is the
// same in every golden file; the lab's fixed ports stay.
func TestGoldenEphemeralPorts(t *testing.T) {
	for in, want := range map[string]string{
		"from 127.20.1.1:33157: record key http XML": "from 127.20.1.1:<port>: record key http XML",
		"from 127.20.0.2:60999: x":                   "from 127.20.0.2:<port>: x",
		"127.20.1.1:32768 127.20.1.1:32767":          "127.20.1.1:<port> 127.20.1.1:32767",
		"INVITE sip:1001@127.20.1.1:7300":            "INVITE sip:1001@127.20.1.1:7300",
		"http://127.20.0.2:8080/record":              "http://127.20.0.2:8080/record",
		"127.20.0.2:20002, 127.20.0.1:5060":          "127.20.0.2:20002, 127.20.0.1:5060",
		"call 000000000000000000000001":              "call <id>",
		"127.20.1.1:65535":                           "127.20.1.1:<port>",
	} {
		if got := normalise(in); got != want {
			t.Errorf("normalise(%q) = %q, want %q", in, got, want)
		}
	}
}
