package media_test

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/reclab/reclab/sim/media"
)

func ExampleBuildRecordingOffer() {
	recorder := netip.MustParseAddr("127.20.0.2")
	body, err := media.BuildRecordingOffer(media.RecordingOffer{
		SessionID: 1001, SessionVersion: 1, Origin: recorder,
		TX: netip.AddrPortFrom(recorder, 20000),
		RX: netip.AddrPortFrom(recorder, 20002),
	})
	if err != nil {
		panic(err)
	}
	offer, err := media.ParseRecordingOffer(body)
	fmt.Println(offer.TX, offer.RX, offer.Codecs, err)
	fmt.Print(strings.ReplaceAll(string(body), "\r\n", "\n"))
	// Output:
	// 127.20.0.2:20000 127.20.0.2:20002 [PCMA PCMU] <nil>
	// v=0
	// o=- 1001 1 IN IP4 127.20.0.2
	// s=-
	// c=IN IP4 127.20.0.2
	// t=0 0
	// m=audio 20000 RTP/AVP 8 0 101
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-15
	// a=ptime:20
	// a=label:tx
	// a=recvonly
	// m=audio 20002 RTP/AVP 8 0 101
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:0 PCMU/8000
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-15
	// a=ptime:20
	// a=label:rx
	// a=recvonly
}

// A phone's two forked streams recorded to one stereo file, and checked.
func ExampleStereoWAV() {
	f, err := os.CreateTemp("", "reclab-*.wav")
	if err != nil {
		panic(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()

	wav, err := media.NewStereoWAV(f)
	if err != nil {
		panic(err)
	}
	mic := media.NewTone(media.ToneFrequency(0), 8000)      // this phone
	farEnd := media.NewTone(media.ToneFrequency(1), 8000)   // the other phone
	tx := media.NewForker(0x7001, 1)                        // fork of what it sends
	rx := media.NewForker(0x7002, 1)                        // fork of what it receives
	sent := media.NewSender(0xaaaa, 100, 0, media.PCMA)     // its own stream
	received := media.NewSender(0xbbbb, 900, 0, media.PCMA) // the far end's
	pcm := make([]int16, media.FrameSamples)
	var buf, fork []byte
	for i := range 50 { // one second
		mic.Next(pcm)
		buf = sent.EncodePacket(buf, pcm, i == 0)
		fork, _ = tx.Rewrite(fork, buf)
		if i != 20 { // one packet lost on the way to the recorder
			_ = wav.Push(media.ChannelTX, fork)
		}
		farEnd.Next(pcm)
		buf = received.EncodePacket(buf, pcm, i == 0)
		fork, _ = rx.Rewrite(fork, buf)
		_ = wav.Push(media.ChannelRX, fork)
	}
	if err := wav.Close(); err != nil {
		panic(err)
	}

	f.Seek(0, 0)
	left, right, rate, err := media.ReadWAV(f)
	if err != nil {
		panic(err)
	}
	cands := []float64{media.ToneFrequency(0), media.ToneFrequency(1)}
	l, _ := media.DominantTone(left, rate, cands)
	r, _ := media.DominantTone(right, rate, cands)
	st := wav.Stats(media.ChannelTX)
	fmt.Printf("%d samples; left %v Hz, right %v Hz\n", len(left), l, r)
	fmt.Printf("tx: expected %d, received %d, lost %d\n", st.Expected, st.Received, st.Lost)
	// Output:
	// 8000 samples; left 400 Hz, right 550 Hz
	// tx: expected 50, received 49, lost 1
}
