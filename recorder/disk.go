package recorder

import "sync/atomic"

// diskWriter is the recorder's one goroutine for the recordings' bytes
// (issue 14 items 2 and 3): the RTP reader goroutines fill each file's
// chunks in memory (bufferedFile) and hand the full ones here, so neither
// they nor the loop wait on a write. Chunks of one file are written in the
// order they were handed over, so a header's sizes (StereoWAV.Sync) never
// reach the file before the audio they declare.
//
// The queue is bounded (diskQueue chunks, about diskQueue × 64 KiB): when
// the disk cannot keep up a reader waits for room rather than lose audio,
// and Waits counts the times it did.
type diskWriter struct {
	jobs  chan diskJob
	done  chan struct{}
	waits atomic.Uint64
}

// diskJob is one chunk of a file (chunk set), or, with done set, a
// barrier: done is closed once every chunk of file handed over before it
// is written.
type diskJob struct {
	file  *bufferedFile
	chunk *[]byte
	off   int64
	n     int
	done  chan struct{}
	run   func() // other file work that must not hold up a set-up (the first sidecars)
}

// diskQueue bounds the chunks on their way: 1,000 recorded parties fill
// one chunk each every 2 s, so this is seconds of a slow disk.
const diskQueue = 4096

func newDiskWriter() *diskWriter {
	d := &diskWriter{jobs: make(chan diskJob, diskQueue), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *diskWriter) run() {
	defer close(d.done)
	for j := range d.jobs {
		if j.done != nil {
			close(j.done)
			continue
		}
		if j.run != nil {
			j.run()
			continue
		}
		j.file.writeChunk(j.chunk, j.off, j.n)
	}
}

// send queues a job; with the queue full it waits, counted.
func (d *diskWriter) send(j diskJob) {
	select {
	case d.jobs <- j:
	default:
		d.waits.Add(1)
		d.jobs <- j
	}
}

// Waits is how many times a chunk found the queue full.
func (d *diskWriter) Waits() uint64 { return d.waits.Load() }

// stop writes what is queued and ends the goroutine; nothing may be sent
// after it.
func (d *diskWriter) stop() {
	close(d.jobs)
	<-d.done
}
