package recorder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reclab/reclab/sim/media"
)

// Meta is a recording's JSON sidecar (design.md "Recordings").
type Meta struct {
	CallID        string             `json:"call_id"` // CSTA callID
	Calling       string             `json:"calling"`
	Called        string             `json:"called"`
	Extension     string             `json:"extension"` // the recorded party
	Model         string             `json:"model"`
	PhoneIP       string             `json:"phone_ip"`
	RecordingPort int                `json:"recording_port"`
	Mapping       string             `json:"mapping"`
	PBX           string             `json:"pbx"`         // the PBX's address: the parties' SIP domain
	SIPCallID     string             `json:"sip_call_id"` // the recording session's dialog
	Codec         string             `json:"codec"`       // from the phone's answer
	Start         time.Time          `json:"start"`       // RFC 3339, lab clock
	Stop          time.Time          `json:"stop"`
	TX            media.ChannelStats `json:"tx"` // left: what the phone sent
	RX            media.ChannelStats `json:"rx"` // right: what the phone received
	Malformed     int64              `json:"malformed,omitempty"`
	// Recoveries counts recovery INVITEs (spec §3.2.2) during this file:
	// the session was re-opened under a new Call-ID and the file went on.
	Recoveries int    `json:"recoveries,omitempty"`
	Reason     string `json:"reason"` // why the recording ended
	// Encrypted: the call's media was SRTP (spec §1.3); SRTP says how its
	// forks were decrypted, or why they could not be.
	Encrypted bool      `json:"encrypted,omitempty"`
	SRTP      *SRTPInfo `json:"srtp,omitempty"`
}

// Packets is the number of packets received on both streams.
func (m Meta) Packets() int64 { return m.TX.Received + m.RX.Received }

// Lost is the number of packets lost on both streams.
func (m Meta) Lost() int64 { return m.TX.Lost + m.RX.Lost }

// Recording is a finished recording: its two files and what the JSON says.
type Recording struct {
	WAV  string // <OutDir>/<callID>-<ext>.wav
	JSON string // the sidecar next to it
	XML  string // the same as RFC 7865 recording metadata (rfc7865.go)
	Meta Meta
}

// openFile is the recording being written for one call.
type openFile struct {
	name string // "<callID>-<ext>", as in the trace
	path string // WAV path
	file *os.File
	buf  *bufferedFile
	wav  *media.StereoWAV
	meta Meta
}

// createRecording makes <dir>/<callID>-<ext>.wav, or -2, -3, … if a file of
// that name exists: recordings already made are never overwritten.
func createRecording(dir, callID, ext string) (*openFile, error) {
	base := safeName(callID) + "-" + safeName(ext)
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		path := filepath.Join(dir, name+".wav")
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) && i < 1000 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("recorder: create %s: %w", path, err)
		}
		buf := &bufferedFile{f: f}
		wav, err := media.NewStereoWAV(buf)
		if err != nil {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("recorder: %s: %w", path, err)
		}
		return &openFile{name: name, path: path, file: f, buf: buf, wav: wav}, nil
	}
}

// finish closes the WAV and writes the JSON sidecar (to a temporary name,
// then renamed, so a reader never sees half a file).
func (o *openFile) finish() (Recording, error) {
	err := o.wav.Close()
	if ferr := o.buf.Flush(); err == nil {
		err = ferr
	}
	if cerr := o.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		err = fmt.Errorf("recorder: finish %s: %w", o.path, err)
	}
	rec := Recording{WAV: o.path, JSON: o.sidecarPath(), XML: o.metadataPath(), Meta: o.meta}
	if jerr := o.writeSidecar(o.meta); jerr != nil && err == nil {
		err = jerr
	}
	return rec, err
}

func (o *openFile) sidecarPath() string  { return strings.TrimSuffix(o.path, ".wav") + ".json" }
func (o *openFile) metadataPath() string { return strings.TrimSuffix(o.path, ".wav") + ".xml" }

// writeSidecar writes the JSON and the RFC 7865 XML beside the WAV, each to
// a temporary name then renamed, so a reader never sees half a file. They
// are written when the file opens (reason ReasonUnfinished, datamode
// partial: a recording whose process was killed still says what it is) and
// again when it closes.
func (o *openFile) writeSidecar(m Meta) error {
	doc, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("recorder: write %s: %w", o.sidecarPath(), err)
	}
	if err := writeWhole(o.sidecarPath(), append(doc, '\n')); err != nil {
		return err
	}
	xdoc, err := rfc7865Document(m)
	if err != nil {
		return fmt.Errorf("recorder: write %s: %w", o.metadataPath(), err)
	}
	return writeWhole(o.metadataPath(), xdoc)
}

// writeWhole writes b to path through a temporary file and a rename.
func writeWhole(path string, b []byte) error {
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, b, 0o644)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("recorder: write %s: %w", path, err)
	}
	return nil
}

// discard closes a file that never became a recording and removes it.
func (o *openFile) discard() error {
	err := o.file.Close()
	if rerr := os.Remove(o.path); err == nil {
		err = rerr
	}
	for _, side := range []string{o.sidecarPath(), o.metadataPath()} {
		if rerr := os.Remove(side); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	return err
}

// safeName keeps a callID or extension usable as part of a file name.
func safeName(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '+', r == '.', r == '_':
			return r
		}
		return '_'
	}, s)
}

// bufferedFile batches StereoWAV's small writes (one packet's worth at a
// time) into large ones; StereoWAV needs an io.WriteSeeker, which bufio is
// not. Seek flushes first.
type bufferedFile struct {
	f   *os.File
	buf []byte
}

const fileBufSize = 64 << 10

func (b *bufferedFile) Write(p []byte) (int, error) {
	if b.buf == nil {
		b.buf = make([]byte, 0, fileBufSize)
	}
	if len(b.buf)+len(p) > cap(b.buf) {
		if err := b.Flush(); err != nil {
			return 0, err
		}
		if len(p) > cap(b.buf) {
			return b.f.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *bufferedFile) Seek(offset int64, whence int) (int64, error) {
	if err := b.Flush(); err != nil {
		return 0, err
	}
	return b.f.Seek(offset, whence)
}

// Flush writes what is buffered.
func (b *bufferedFile) Flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.f.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

var _ io.WriteSeeker = (*bufferedFile)(nil)
