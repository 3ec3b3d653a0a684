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
	"sync/atomic"
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
	// initial is closed once the first sidecars (reason unfinished) are
	// written, or were never to be (tests); finish and discard wait for it.
	initial chan struct{}
}

// writeInitialSidecar writes the sidecars of a file just opened and lets
// its finish go ahead.
func (o *openFile) writeInitialSidecar(m Meta) error {
	defer close(o.initial)
	return o.writeSidecar(m)
}

// initialDone waits for the first sidecars (a worker writes them just
// after the open); a file made without them waits for nothing.
func (o *openFile) initialDone() {
	if o.initial != nil {
		<-o.initial
	}
}

// createRecording makes <dir>/<callID>-<ext>.wav, or -2, -3, … if a file of
// that name exists: recordings already made are never overwritten. Its
// bytes go to the file through disk (nil: at once, for tests).
func createRecording(dir, callID, ext string, disk *diskWriter) (*openFile, error) {
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
		buf := &bufferedFile{f: f, disk: disk}
		if disk != nil {
			buf.lane = disk.lane()
		}
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
	o.initialDone()
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
	o.initialDone()
	o.buf.Flush() // nothing of it may still be on its way to the file
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
// time) into 64 KiB chunks and hands each full chunk to the recorder's disk
// writer (disk.go), so the RTP reader goroutine that pushes a packet never
// waits on the file (issue 14 items 2 and 3). StereoWAV needs an
// io.WriteSeeker: Seek only moves the position, and a write elsewhere than
// the end of the current chunk starts a chunk of its own at that offset
// (the header's sizes at each Sync), so chunks are positional writes the
// disk writer makes in order. Flush hands over what is buffered and waits
// until the disk writer has written all of this file's chunks.
//
// With no disk writer (a test of the pieces) each chunk is written at once.
type bufferedFile struct {
	f    *os.File
	disk *diskWriter
	lane int // disk's lane for this file

	chunk    *[]byte // the chunk being filled, nil until the first write
	n        int     // bytes in chunk
	chunkOff int64   // the file offset of chunk's first byte
	pos      int64   // the position the next Write writes at
	size     int64   // the file's length once every chunk is written

	err atomic.Pointer[error] // the first write error, set by the disk writer
}

// fileBufSize is a chunk: about 2 s of one recorded party (stereo, 8 kHz,
// 16-bit).
const fileBufSize = 64 << 10

// chunks keeps spare chunks warm: a sync.Pool empties at every other GC,
// and a chunk allocated afresh is new pages the first copy into it faults
// in (a 500-call bench spent 8% of its CPU in that memmove). It holds up to
// maxSpareChunks (32 MiB); past that a chunk goes to the GC.
var chunks = make(chan *[]byte, maxSpareChunks)

const maxSpareChunks = 512

func getChunk() *[]byte {
	select {
	case c := <-chunks:
		return c
	default:
		b := make([]byte, fileBufSize)
		return &b
	}
}

func putChunk(c *[]byte) {
	select {
	case chunks <- c:
	default:
	}
}

func (b *bufferedFile) failed() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (b *bufferedFile) Write(p []byte) (int, error) {
	if err := b.failed(); err != nil {
		return 0, err
	}
	if b.pos != b.chunkOff+int64(b.n) {
		b.seal()
		b.chunkOff = b.pos
	}
	done := 0
	for done < len(p) {
		if b.chunk == nil {
			b.chunk = getChunk()
		}
		k := copy((*b.chunk)[b.n:], p[done:])
		b.n += k
		done += k
		if b.n == len(*b.chunk) {
			b.seal()
		}
	}
	b.pos += int64(len(p))
	b.size = max(b.size, b.pos)
	return len(p), b.failed()
}

func (b *bufferedFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.size
	default:
		return 0, fmt.Errorf("recorder: seek: whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("recorder: seek to %d", offset)
	}
	b.pos = offset
	return offset, nil
}

// seal hands the chunk being filled to the disk writer; the next bytes go
// into a new one after it.
func (b *bufferedFile) seal() {
	if b.n == 0 {
		return
	}
	c, off, n := b.chunk, b.chunkOff, b.n
	b.chunk, b.n, b.chunkOff = nil, 0, off+int64(n)
	if b.disk == nil {
		b.writeChunk(c, off, n)
		return
	}
	if n <= diskPatch {
		// A header's sizes: carried in the job, the chunk's buffer back
		// in the pool at once.
		j := diskJob{file: b, off: off, n: n}
		copy(j.patch[:], (*c)[:n])
		putChunk(c)
		b.disk.send(b.lane, j)
		return
	}
	b.disk.send(b.lane, diskJob{file: b, chunk: c, off: off, n: n})
}

// writeChunk writes one chunk where it belongs and gives its buffer back
// (the disk writer's goroutine).
func (b *bufferedFile) writeChunk(c *[]byte, off int64, n int) {
	b.writeAt((*c)[:n], off)
	putChunk(c)
}

func (b *bufferedFile) writeAt(p []byte, off int64) {
	if b.failed() == nil {
		if _, err := b.f.WriteAt(p, off); err != nil {
			b.err.CompareAndSwap(nil, &err)
		}
	}
}

// Flush hands over what is buffered and returns once the disk writer has
// written every chunk of this file, with the first write error.
func (b *bufferedFile) Flush() error {
	b.seal()
	if b.disk != nil {
		done := make(chan struct{})
		b.disk.send(b.lane, diskJob{file: b, done: done})
		<-done
	}
	return b.failed()
}

var _ io.WriteSeeker = (*bufferedFile)(nil)
