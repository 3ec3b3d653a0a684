// Package media is the lab's audio plumbing: G.711 (PCMA/PCMU), RTP
// packets, the recording fork, SDP for calls and recording sessions, audio
// sources, stereo WAV recordings and tone detection.
//
// # Owns
//
//   - Codec: G.711 A-law and µ-law, named by their static RTP payload type.
//   - Tone, Loop, Source, ToneFrequency: audio a phone sends (a tone per
//     phone, so a recording can be checked for who spoke on which side).
//   - Sender, ParseHeader, Forker: RTP numbering (RFC 3550), and the copy of
//     each packet a phone forks to the recorder with its own SSRC and
//     sequence (design.md, "The recording session").
//   - CallOffer, ParseCall, CallAnswer: the SDP of a normal call.
//   - BuildRecordingOffer, ParseRecordingOffer, BuildRecordingAnswer,
//     ParseRecordingAnswer: the recorder→phone session's SDP, two m=audio
//     lines labelled tx and rx (recvonly in the offer, sendonly in the
//     answer).
//   - CryptoSuite, SDESKey, SRTP, CallOfferSRTP, CallAnswerSRTP: SRTP calls
//     (spec §1.3) with RFC 4568 SDES keys (a=crypto, RTP/SAVP, a=ssrc);
//     RecordingOffer's TXKey/RXKey and SAVP for encrypted forks. pion/srtp
//     does the cipher work; SRTP.Protect and Unprotect do not allocate.
//   - StereoWAV, ReadWAV, WriteWAV: one stereo WAV per recorded party and
//     call, left = tx, right = rx (design.md, "Recordings").
//   - Goertzel, DominantTone: which tone is in a stretch of audio.
//
// # Must not touch
//
// Sockets, goroutines, timers and the clock. Everything here is pure: the
// caller reads packets, owns the clock (PushAt takes arrival times from
// it) and writes files. Nothing here locks; one node goroutine owns each
// Sender, Forker and StereoWAV. The SIP dialogue around the SDP belongs to
// phones and recorder, the sidecar JSON to recorder.
//
// # Hot path
//
// Tone.Next, Codec.EncodeFrame/DecodeFrame, Sender.Packet/EncodePacket,
// ParseHeader, Forker.Rewrite and StereoWAV.Push do not allocate when dst
// is large enough (alloc_test.go proves it; bench_test.go measures it).
// Their errors do allocate: they are for bad input, not for steady state.
//
// # Example
//
// A phone sends a tone; the recorder writes what it gets:
//
//	tone := media.NewTone(media.ToneFrequency(3), 8000)
//	snd := media.NewSender(0x1234, 1, 0, media.PCMA)
//	pcm := make([]int16, media.FrameSamples)
//	buf := make([]byte, 0, 1500)
//	f, _ := os.Create("7434-call.wav")
//	wav, _ := media.NewStereoWAV(f)
//	for i := range 50 { // one second
//		tone.Next(pcm)
//		pkt := snd.EncodePacket(buf, pcm, i == 0)
//		_ = wav.Push(media.ChannelTX, pkt)
//	}
//	_ = wav.Close()
//	st := wav.Stats(media.ChannelTX) // for the sidecar
package media
