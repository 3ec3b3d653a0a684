package scenarios

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim/media"
)

// Issue 16, spec §1.3: an SRTP call recorded both ways, MX-ONE's (the
// forks byte for byte, the keys in the EstablishedEvent) and the lab's own
// (the recorder's keys in its recording SDP). The stories check each WAV
// channel's tone (expect-recording); here the JSONs say the call was
// encrypted and how it was decrypted, tshark reads the main pcap as SRTP
// and the decrypted companion as RTP, whose payload carries the tone of
// the phone that sent it.
func TestSRTPRecordedBothWays(t *testing.T) {
	for _, tc := range []struct{ story, keys, suite string }{
		{"srtp-call", "csta", "AES_CM_128_HMAC_SHA1_80"},
		{"srtp-recorder-keys", "sdp", "AES_CM_128_HMAC_SHA1_80"}, // the recorder's own keys, whatever the call's suite
	} {
		t.Run(tc.story, func(t *testing.T) {
			s, err := Get(tc.story)
			if err != nil {
				t.Fatal(err)
			}
			res, out, err := run(t, s)
			if err != nil || strings.Contains(out, "FAIL") {
				t.Fatalf("%s: %v\n%s", tc.story, err, out)
			}
			for _, want := range []string{"PASS  recording of 7434 (1001): left channel is 7434's own tone",
				"PASS  recording of 7434 (1001): right channel is the far end's tone",
				"PASS  recording of 6867i (1002): left channel is 6867i's own tone",
				"PASS  recording of 6867i (1002): right channel is the far end's tone"} {
				if !strings.Contains(out, want) {
					t.Errorf("the run lacks %q", want)
				}
			}
			checkGolden(t, s.Name, res)
			metas := recordingMetas(t, res)
			if len(metas) != 2 {
				t.Fatalf("%d recordings, want 2", len(metas))
			}
			for _, m := range metas {
				if !m.Encrypted || m.SRTP == nil || m.SRTP.Keys != tc.keys || m.SRTP.Suite != tc.suite ||
					m.SRTP.Failed != 0 || m.SRTP.Decrypted != m.Packets() || m.SRTP.Decrypted < 100 {
					t.Errorf("recording of %s: encrypted %v, srtp %+v, %d packets", m.Extension, m.Encrypted, m.SRTP, m.Packets())
				}
			}
			checkSRTPPcaps(t, res)
			checkLibsrtp(t, res)
		})
	}
}

// checkSRTPPcaps: tshark labels every stream of the main pcap SRTP (from
// the SDP) and none RTP; in the decrypted companion every one is RTP, and
// the call stream from 7434 carries 7434's tone.
func checkSRTPPcaps(t *testing.T, res Result) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is not installed; .ci/run installs it (apt-get install tshark)")
	}
	plain := filepath.Join(filepath.Dir(res.Pcap), lab.DecryptedPcapName)
	protocols := func(pcap string) map[string]int {
		t.Helper()
		out, err := exec.Command("tshark", "-r", pcap, "-Y", "udp.port >= 20000 && udp.port < 41000 && !sip", "-T", "fields", "-e", "_ws.col.Protocol").Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", pcap, err)
		}
		n := map[string]int{}
		for _, p := range strings.Fields(string(out)) {
			n[p]++
		}
		return n
	}
	// Two call streams and four forks of about 100 packets each.
	if n := protocols(res.Pcap); n["SRTP"] < 550 || len(n) != 1 {
		t.Errorf("main pcap: media frames by protocol %v, want only SRTP", n)
	}
	if n := protocols(plain); n["RTP"] < 550 || len(n) != 1 {
		t.Errorf("decrypted pcap: media frames by protocol %v, want only RTP", n)
	}
	out, err := exec.Command("tshark", "-r", plain, "-Y", "rtp && ip.src == 127.20.1.1 && ip.dst == 127.20.1.2", "-T", "fields", "-e", "rtp.payload").Output()
	if err != nil {
		t.Fatal(err)
	}
	var pcm []int16
	for _, h := range strings.Fields(string(out)) {
		b, err := hex.DecodeString(strings.ReplaceAll(h, ":", ""))
		if err != nil {
			t.Fatalf("rtp.payload %q: %v", h, err)
		}
		pcm = append(pcm, media.PCMA.DecodeFrame(nil, b)...)
	}
	cands := []float64{media.ToneFrequency(0), media.ToneFrequency(1)}
	if f, _ := media.DominantTone(pcm, media.SampleRate, cands); len(pcm) < 8000 || f != cands[0] {
		t.Errorf("decrypted call stream 7434 → 6867i: %d samples, dominant tone %v Hz, want %v", len(pcm), f, cands[0])
	}
}

// checkLibsrtp: libsrtp (Debian python3-pylibsrtp, through
// testdata/srtp-decrypt.py), an implementation nobody here wrote, decrypts
// the call stream 7434 → 6867i of the main pcap with the key of 7434's
// a=crypto, to the very payloads the lab's decrypted companion holds.
func checkLibsrtp(t *testing.T, res Result) {
	t.Helper()
	const python = "/usr/bin/python3" // Debian's, where python3-pylibsrtp installs
	if err := exec.Command(python, "-c", "import pylibsrtp").Run(); err != nil {
		t.Fatalf("%s cannot import pylibsrtp (%v); .ci/run installs it (apt-get install python3-pylibsrtp)", python, err)
	}
	fields := func(pcap, filter, field string) []string {
		t.Helper()
		out, err := exec.Command("tshark", "-r", pcap, "-Y", filter, "-T", "fields", "-e", field).Output()
		if err != nil {
			t.Fatalf("tshark %s -Y %q: %v", pcap, filter, err)
		}
		return strings.Fields(strings.ReplaceAll(string(out), ":", ""))
	}
	// The offer's attributes, comma-separated: crypto:1 SUITE inline:KEY.
	out, err := exec.Command("tshark", "-r", res.Pcap, "-Y", `sip.Method == "INVITE" && ip.src == 127.20.1.1`,
		"-T", "fields", "-e", "sdp.media_attr").Output()
	if err != nil {
		t.Fatal(err)
	}
	var key string
	for _, a := range strings.Split(string(out), ",") {
		if f := strings.Fields(a); len(f) == 3 && strings.HasPrefix(f[0], "crypto:") && strings.HasPrefix(f[2], "inline:") {
			key = f[1] + " " + strings.TrimPrefix(f[2], "inline:")
			break
		}
	}
	if key == "" {
		t.Fatalf("no a=crypto in 7434's INVITE: %q", out)
	}
	call := "ip.src == 127.20.1.1 && ip.dst == 127.20.1.2 && udp && !sip"
	srtp := fields(res.Pcap, call, "udp.payload")
	cmd := exec.Command(python, filepath.Join("testdata", "srtp-decrypt.py"))
	cmd.Stdin = strings.NewReader(key + "\n" + strings.Join(srtp, "\n") + "\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("libsrtp: %v: %s", err, stderr.String())
	}
	want := fields(filepath.Join(filepath.Dir(res.Pcap), lab.DecryptedPcapName), "rtp && "+call, "rtp.payload")
	if dec := strings.Fields(string(got)); len(dec) < 100 || strings.Join(dec, " ") != strings.Join(want, " ") {
		t.Errorf("libsrtp decrypted %d of %d packets of 7434 → 6867i; the lab's companion holds %d; the same payloads: %v",
			len(dec), len(srtp), len(want), strings.Join(dec, " ") == strings.Join(want, " "))
	}
}

// recordingMetas reads the JSON sidecars of a run's recordings.
func recordingMetas(t *testing.T, res Result) []recorder.Meta {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(res.Trace), "recordings", "*.json"))
	var out []recorder.Meta
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m recorder.Meta
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, m)
	}
	return out
}

// A recorder with a wrong key, or none, records nothing audible of an SRTP
// call and says why in its JSON and in the trace (spec §1.3).
func TestSRTPRecorderWithoutTheKey(t *testing.T) {
	for _, tc := range []struct{ keys, reason string }{
		{"wrong", "fail authentication with the key this recorder has (srtp-keys: wrong)"},
		{"none", "this recorder has no key for it (srtp-keys: none)"},
	} {
		t.Run(tc.keys, func(t *testing.T) {
			src := `name: srtp-` + tc.keys + `
section: "§1.3"
description: an SRTP call and a recorder without its keys
lab:
  srtp: AEAD_AES_256_GCM
  recorder: {srtp-keys: ` + tc.keys + `}
steps:
  - dial: {phone: "7434", to: 6867i}
  - wait: {from: pbx, to: "7434", proto: SIP, response: 180}
  - answer: 6867i
  - wait: {to: recorder, proto: RTP, count: 4, timeout: 15s}
  - wait: 1s
  - hang-up: "7434"
  - wait: {state: recording-closed, node: recorder, count: 2, timeout: 15s}
`
			s, err := Parse("srtp-"+tc.keys+".yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			res, out, err := run(t, s)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, tc.reason) {
				t.Errorf("the trace does not say why: want %q in\n%s", tc.reason, out)
			}
			metas := recordingMetas(t, res)
			if len(metas) != 2 {
				t.Fatalf("%d recordings, want 2", len(metas))
			}
			for _, m := range metas {
				if !m.Encrypted || m.SRTP == nil || m.SRTP.Decrypted != 0 || m.SRTP.Failed < 80 ||
					!strings.Contains(m.SRTP.Reason, "nothing audible recorded") || !strings.Contains(m.SRTP.Reason, tc.reason) {
					t.Errorf("recording of %s: encrypted %v, srtp %+v", m.Extension, m.Encrypted, m.SRTP)
				}
			}
			wavs, _ := filepath.Glob(filepath.Join(filepath.Dir(res.Trace), "recordings", "*.wav"))
			for _, w := range wavs {
				f, err := os.Open(w)
				if err != nil {
					t.Fatal(err)
				}
				left, right, _, err := media.ReadWAV(f)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				for _, ch := range [][]int16{left, right} {
					for _, v := range ch {
						if v > 100 || v < -100 {
							t.Fatalf("%s: a sample of %d: audible audio from a recorder without the key", filepath.Base(w), v)
						}
					}
				}
			}
		})
	}
}
