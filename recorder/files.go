package recorder

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/reclab/reclab/sim/media"
)

// This file moves the recordings' file I/O off the loop: creating a WAV
// (openat and its header), and finishing one (the WAV's last frames and
// header sizes, close, the JSON sidecar written and renamed) run on a small
// pool of worker goroutines, which post the result back to the loop as an
// event. What to open and close, and when, stays the loop's decision (the
// session core's ActOpenRecording/ActCloseRecording); the loop sends the
// ACK of a new session only when its file is open (the phone forks on the
// ACK, spec §3.2), and a file closed by the core before its open completed
// is finished as soon as it is open.
//
// A new session's file is opened when its INVITE goes out (prepareRecording),
// so the open overlaps the INVITE's round trip and the ACK usually leaves as
// soon as the 200 OK is in; if the session never records it (the INVITE
// failed), the file is closed and removed.

// fileWorkers is the size of the file I/O pool.
const fileWorkers = 3

// fileSlot is the recording of one call as the loop sees it: its metadata
// from the start, the open file once a worker has made it.
type fileSlot struct {
	call   Call
	meta   Meta
	f      *openFile // nil until the open completes (or if it failed)
	closed bool      // the core closed it before the open completed
	// held is the finished session's sink when the session ended before
	// this closed slot's open completed: the call's packets wait there
	// (the ACK does not wait for the open) and go into the file once open.
	held *sink
	drop bool // opened ahead for a session that never recorded it: remove it
	keep bool // set at close: false when save on demand discards it (spec §3.3)
}

// fileJob is one piece of file I/O for a worker: open (create the WAV of
// slot) or finish (close f and write its JSON).
type fileJob struct {
	s      *session
	slot   *fileSlot
	finish *openFile // nil: open
	drop   bool      // with finish: close and remove instead
	callID string    // open: the file name's parts
	ext    string
	meta   Meta // open: what the JSON says while the recording is open
}

// fileDoneEvent is a worker's result for the loop.
type fileDoneEvent struct {
	job fileJob
	f   *openFile // open: the new file
	rec Recording // finish: the finished recording
	err error
}

// files is the pool: buffered channels of opens and finishes that the
// workers take jobs from directly, opens first (a session's first packets
// are held until its open completes, while a finish delays nobody), and
// the loop's overflow queues for when a channel is full (the loop never
// blocks handing a job over).
type files struct {
	openCh, finishCh chan fileJob
	stop             chan struct{}
	opens, finishes  []fileJob   // loop-owned overflow, oldest first
	outstanding      int         // loop-owned: queued or running
	disk             *diskWriter // the WAVs' bytes (disk.go)
	workers          sync.WaitGroup

	// openGate, a test hook: while it holds a channel, every open waits
	// for that channel to close (a disk slower than the SIP round trip).
	openGate atomic.Pointer[chan struct{}]
}

// fileChanSize is each job channel's buffer: a burst of set-ups fits.
const fileChanSize = 1024

func (r *Recorder) startFileWorkers() {
	r.files.openCh = make(chan fileJob, fileChanSize)
	r.files.finishCh = make(chan fileJob, fileChanSize)
	r.files.stop = make(chan struct{})
	r.files.disk = newDiskWriter()
	for range fileWorkers {
		r.files.workers.Add(1)
		go r.fileWorker()
	}
}

// stopFileWorkers ends the pool; the loop calls it once nothing is
// outstanding.
func (r *Recorder) stopFileWorkers() {
	close(r.files.stop)
	r.files.workers.Wait()
	r.files.disk.stop() // every file is finished: its chunks are written
}

func (r *Recorder) fileWorker() {
	defer r.files.workers.Done()
	for {
		var job fileJob
		select {
		case job = <-r.files.openCh:
		default:
			select {
			case job = <-r.files.openCh:
			case job = <-r.files.finishCh:
			case <-r.files.stop:
				return
			}
		}
		done := fileDoneEvent{job: job}
		switch {
		case job.drop:
			done.err = job.finish.discard()
		case job.finish != nil:
			done.rec, done.err = job.finish.finish()
		default:
			if gate := r.files.openGate.Load(); gate != nil {
				<-*gate
			}
			done.f, done.err = createRecording(r.cfg.OutDir, job.callID, job.ext, r.files.disk)
			if done.err == nil {
				// The loop gets the file at once: the session's forked
				// packets are held until it is installed, and the
				// sidecars, two files written and renamed each, took most
				// of a set-up's time (issue 14 item 3: 4 of 5 file
				// creations per session). The disk writer writes them
				// after the opens; the file's finish waits for them
				// (openFile.initial), so the final JSON at close always
				// comes later.
				f, m := done.f, job.meta
				m.Reason = ReasonUnfinished
				f.initial = make(chan struct{})
				r.files.disk.send(r.files.disk.sideLane(), diskJob{run: func() {
					if err := f.writeInitialSidecar(m); err != nil {
						r.net.Errorf(r.node.Name(), netip.AddrPort{}, "call %s of %s: %v (the WAV records on)", m.CallID, job.ext, err)
					}
				}})
			}
		}
		r.post(done)
	}
}

// submit hands a job to the workers, or queues it when its channel is
// full (or jobs of its kind are queued already, to keep their order).
func (r *Recorder) submit(job fileJob) {
	r.files.outstanding++
	ch, q := r.files.openCh, &r.files.opens
	if job.finish != nil {
		ch, q = r.files.finishCh, &r.files.finishes
	}
	if len(*q) == 0 {
		select {
		case ch <- job:
			return
		default:
		}
	}
	*q = append(*q, job)
}

// queue is the overflow queue the next job comes from, opens first, and
// its channel.
func (r *Recorder) queue() (*[]fileJob, chan<- fileJob) {
	if len(r.files.opens) > 0 {
		return &r.files.opens, r.files.openCh
	}
	return &r.files.finishes, r.files.finishCh
}

// nextJob is the channel to hand the next overflowed job to, or nil (a
// select case that never fires) when nothing is queued.
func (r *Recorder) nextJob() (chan<- fileJob, fileJob) {
	q, ch := r.queue()
	if len(*q) == 0 {
		return nil, fileJob{}
	}
	return ch, (*q)[0]
}

// handedOver drops the job a worker took (the one nextJob offered: the
// loop queued nothing in between).
func (r *Recorder) handedOver() {
	q, _ := r.queue()
	(*q)[0] = fileJob{}
	*q = (*q)[1:]
	if len(*q) == 0 {
		*q = nil
	}
}

// prepareRecording opens call's file ahead, as the session's INVITE goes
// out; openRecording takes it.
func (r *Recorder) prepareRecording(s *session, call Call) {
	if call.ID == "" || s.prepared != nil {
		return
	}
	s.prepared = &fileSlot{call: call}
	r.submit(fileJob{s: s, slot: s.prepared, callID: call.ID, ext: s.ext, meta: r.metaFor(s, call)})
}

// metaFor is what a recording of call on session s says of itself.
func (r *Recorder) metaFor(s *session, call Call) Meta {
	return Meta{
		CallID: call.ID, Calling: call.Calling, Called: call.Called, Extension: s.ext,
		Model: s.dev.Model, PhoneIP: s.dev.IP.String(), RecordingPort: s.dev.RecordingPort,
		Mapping: r.cfg.Mapping.String(), PBX: r.cfg.CSTA.Addr().String(), SIPCallID: s.sipCallID, Codec: s.answer.Codec.String(),
		Start: r.labTime(), Encrypted: len(call.Media) > 0,
	}
}

// openRecording starts call's recording: the metadata now, the file from
// prepareRecording or else on a worker (onFileDone installs it in the sink).
func (r *Recorder) openRecording(s *session, call Call) {
	slot := s.prepared
	s.prepared = nil
	if slot != nil && slot.call.ID != call.ID {
		r.dropPrepared(s, slot)
		slot = nil
	}
	fresh := slot == nil
	if fresh {
		slot = &fileSlot{call: call}
	}
	slot.call = call
	slot.meta = r.metaFor(s, call)
	s.file = slot
	switch {
	case fresh:
		r.submit(fileJob{s: s, slot: slot, callID: call.ID, ext: s.ext, meta: slot.meta})
	case slot.f != nil:
		r.install(s, slot) // opened ahead: the ACK need not wait
	}
}

// dropPrepared gets rid of a file opened ahead that no recording took.
func (r *Recorder) dropPrepared(s *session, slot *fileSlot) {
	slot.drop = true
	if slot.f != nil {
		r.submit(fileJob{s: s, slot: slot, finish: slot.f, drop: true})
	} // else onFileDone drops it when the open completes
}

// closeRecording ends the current recording with reason: the sink lets go
// of its WAV now and a worker finishes the files. A recording whose open is
// still running is finished when it completes.
func (r *Recorder) closeRecording(s *session, reason string) {
	slot := s.file
	if slot == nil {
		return
	}
	s.file = nil
	slot.meta.Stop = r.labTime()
	slot.meta.Reason = reason
	slot.keep = r.keepRecording(s.ext, slot.call.ID)
	if slot.f == nil {
		slot.closed = true
		s.opening = slot // onFileDone writes what the sink holds into it
		return
	}
	_, malformed, _, _ := s.sink.swap(nil)
	slot.meta.Malformed = malformed
	slot.meta.SRTP = s.sink.srtpResult(nil)
	r.finishFile(s, slot)
}

// finishFile hands an open file that no sink writes to a worker.
func (r *Recorder) finishFile(s *session, slot *fileSlot) {
	f := slot.f
	slot.meta.TX = f.wav.Stats(media.ChannelTX)
	slot.meta.RX = f.wav.Stats(media.ChannelRX)
	f.meta = slot.meta
	r.submit(fileJob{s: s, slot: slot, finish: f})
}

// onFileDone takes a worker's result.
func (r *Recorder) onFileDone(ev fileDoneEvent) {
	r.files.outstanding--
	s, slot := ev.job.s, ev.job.slot
	switch {
	case ev.job.drop:
		if ev.err != nil {
			r.net.Errorf(r.node.Name(), netip.AddrPort{}, "file opened ahead for %s of %s: %v", slot.call, s.ext, ev.err)
		}
		return
	case ev.job.finish != nil:
		r.recordingFinished(slot, ev.job.finish, ev.rec, ev.err)
		return
	}
	if ev.err != nil {
		r.net.Errorf(r.node.Name(), netip.AddrPort{}, "%s of %s not recorded: %v", slot.call, s.ext, ev.err)
		if s.file == slot {
			s.file = nil
		}
		if s.prepared == slot {
			s.prepared = nil // openRecording tries again
		}
		if s.opening == slot {
			s.opening = nil
		}
		if slot.held != nil {
			if n := slot.held.dropHeld(); n > 0 {
				r.node.Note("recording session %s: %d packets held for %s were not recorded", s.name, n, slot.call)
			}
		}
		return
	}
	slot.f = ev.f
	switch {
	case slot.drop:
		r.dropPrepared(s, slot)
	case s.prepared == slot:
		// Opened ahead; openRecording takes it.
	case slot.closed:
		r.finishOpened(s, slot) // closed by the core while it was being opened
	default:
		r.install(s, slot)
	}
}

// finishOpened finishes a file whose recording was closed while it was
// being opened, with the packets held for it meanwhile: the session's
// sink's if nothing newer records there, or the ended session's (held).
func (r *Recorder) finishOpened(s *session, slot *fileSlot) {
	if s.opening == slot {
		s.opening = nil
	}
	held := slot.held
	if held == nil && r.sessions[s.key] == s && s.file == nil {
		held = s.sink
	}
	if held == nil {
		r.node.Note("recording %s started", slot.f.name)
		r.node.Publish(RecordingStarted{Recording: slot.f.name, Ext: slot.meta.Extension, CallID: slot.meta.CallID, Mapping: slot.meta.Mapping})
		r.finishFile(s, slot)
		return
	}
	r.installKeys(s, slot.call)
	_, _, replayed, stale := held.swap(slot.f.wav)
	_, malformed, _, _ := held.swap(nil)
	slot.meta.Malformed = malformed
	slot.meta.SRTP = held.srtpResult(nil)
	r.node.Publish(RecordingStarted{Recording: slot.f.name, Ext: slot.meta.Extension, CallID: slot.meta.CallID, Mapping: slot.meta.Mapping})
	r.node.Note("recording %s started after its call ended, with the %d packets held for it (%d of the previous call left out)", slot.f.name, replayed, stale)
	r.finishFile(s, slot)
}

// install hands an open file to the session's sink, with what it held.
func (r *Recorder) install(s *session, slot *fileSlot) {
	r.installKeys(s, slot.call) // srtp.go: before the held packets are replayed
	_, _, replayed, stale := s.sink.swap(slot.f.wav)
	r.node.Publish(RecordingStarted{Recording: slot.f.name, Ext: slot.meta.Extension, CallID: slot.meta.CallID, Mapping: slot.meta.Mapping})
	switch {
	case replayed > 0 || stale > 0:
		r.node.Note("recording %s started with %d packets that arrived before it was open (%d of the previous call left out)", slot.f.name, replayed, stale)
	default:
		r.node.Note("recording %s started", slot.f.name)
	}
}

// recordingFinished publishes a finished recording, or discards it (save
// on demand without a press, spec §3.3). Published before the notes:
// whoever waits for "closed" or "kept" finds it in Recordings.
func (r *Recorder) recordingFinished(slot *fileSlot, f *openFile, rec Recording, err error) {
	if err != nil {
		r.net.Errorf(r.node.Name(), netip.AddrPort{}, "recording %s: %v", f.name, err)
	}
	if slot.keep {
		r.recordings = append(r.recordings, rec)
	}
	r.node.Note("recording %s closed (%s): %d packets, %d lost", f.name, rec.Meta.Reason, rec.Meta.Packets(), rec.Meta.Lost())
	r.keptOrDiscarded(rec, slot.keep)
	r.node.Publish(RecordingClosed{Recording: rec, Kept: slot.keep})
}
