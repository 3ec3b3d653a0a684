package recorder

import "sync/atomic"

// diskWriter owns the recordings' write calls (issue 14 items 2 and 3):
// the RTP reader goroutines fill each file's chunks in memory
// (bufferedFile) and hand them here, so neither they nor the loop wait on
// a write. It has diskLanes goroutines, each with its queue; a file keeps
// to one lane, so its chunks are written in the order they were handed
// over and a header's sizes (StereoWAV.Sync) never reach the file before
// the audio they declare, while files of different lanes are written side
// by side (a write call on this machine's ext4 costs up to a millisecond).
//
// Each queue is bounded (diskQueue jobs): when the disk cannot keep up a
// reader waits for room rather than lose audio, and Waits counts the times
// it did.
type diskWriter struct {
	lanes []diskLane
	next  atomic.Uint32 // the lane of the next file, round robin
	waits atomic.Uint64
}

type diskLane struct {
	jobs chan diskJob
	done chan struct{}
}

// diskJob is one chunk of a file (chunk set; a write of up to diskPatch
// bytes, a header's sizes, travels in patch instead), or, with done set, a
// barrier: done is closed once every chunk of the file handed over before
// it is written; or other file work (run).
type diskJob struct {
	file  *bufferedFile
	chunk *[]byte
	patch [diskPatch]byte
	off   int64
	n     int
	done  chan struct{}
	run   func() // other file work that must not hold up a set-up (the first sidecars)
}

// diskPatch is the largest write carried in the job itself.
const diskPatch = 8

// diskQueue bounds each lane's jobs on their way: 1,000 recorded parties
// hand over three jobs a second each (a chunk, two header sizes).
const diskQueue = 4096

// diskLanes is how many writes go on at once.
const diskLanes = 4

func newDiskWriter() *diskWriter {
	d := newIdleDiskWriter(diskLanes)
	d.start()
	return d
}

// newIdleDiskWriter makes the lanes, and one more for the first sidecars
// (sideLane), without their goroutines (start).
func newIdleDiskWriter(lanes int) *diskWriter {
	d := &diskWriter{lanes: make([]diskLane, lanes+1)}
	for i := range d.lanes {
		d.lanes[i] = diskLane{jobs: make(chan diskJob, diskQueue), done: make(chan struct{})}
	}
	return d
}

func (d *diskWriter) start() {
	for i := range d.lanes {
		go d.lanes[i].run()
	}
}

// lane is the lane for a new file's chunks.
func (d *diskWriter) lane() int { return int(d.next.Add(1)) % (len(d.lanes) - 1) }

// sideLane is the lane of the first sidecars: one at a time, since
// creating files side by side in one directory costs more CPU in all
// (the directory's lock) and the set-up's own WAV creations compete for it
// (bench --setup: 372/s with them spread over four lanes, 488–490/s in
// the two runs just after with this one).
func (d *diskWriter) sideLane() int { return len(d.lanes) - 1 }

func (l *diskLane) run() {
	defer close(l.done)
	for j := range l.jobs {
		switch {
		case j.done != nil:
			close(j.done)
		case j.run != nil:
			j.run()
		case j.chunk != nil:
			j.file.writeChunk(j.chunk, j.off, j.n)
		default:
			j.file.writeAt(j.patch[:j.n], j.off)
		}
	}
}

// send queues a job on lane; with the queue full it waits, counted.
func (d *diskWriter) send(lane int, j diskJob) {
	ch := d.lanes[lane].jobs
	select {
	case ch <- j:
	default:
		d.waits.Add(1)
		ch <- j
	}
}

// Waits is how many times a job found its lane's queue full.
func (d *diskWriter) Waits() uint64 { return d.waits.Load() }

// stop writes what is queued and ends the goroutines; nothing may be sent
// after it.
func (d *diskWriter) stop() {
	for i := range d.lanes {
		close(d.lanes[i].jobs)
	}
	for i := range d.lanes {
		<-d.lanes[i].done
	}
}
