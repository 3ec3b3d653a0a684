package recorder

// The published views (Recordings, Sessions, Devices, OnDemandMode) are
// the loop's: a view is a request event with a reply channel, answered by
// the loop from its own state, so no lock guards them. Before Start they
// answer from the configuration; once the loop has stopped, from the view
// it left behind (Recorder.final).

// recorderView is one answer: copies, the caller's to keep.
type recorderView struct {
	devices    map[string]DeviceInfo
	recordings []Recording
	sessions   int
	onDemand   OnDemand
}

// viewRequest asks the loop for a recorderView.
type viewRequest struct{ reply chan recorderView }

// view is the loop's answer to a viewRequest; on the loop only.
func (r *Recorder) view() recorderView {
	v := recorderView{
		devices:    make(map[string]DeviceInfo, len(r.devices)),
		recordings: append([]Recording(nil), r.recordings...),
		sessions:   len(r.sessions),
		onDemand:   r.onDemandMode,
	}
	for k, d := range r.devices {
		v.devices[k] = d
	}
	return v
}

// ask gets a view from the loop, or the one it left once it stopped. It
// must not be called from the loop.
func (r *Recorder) ask() recorderView {
	select {
	case <-r.loopStarted:
	default:
		// Not started (or closed before Start): nothing happened yet.
		return recorderView{devices: map[string]DeviceInfo{}, onDemand: r.cfg.OnDemand}
	}
	req := viewRequest{reply: make(chan recorderView, 1)}
	select {
	case r.events <- req:
	case <-r.loopDone:
		return r.final
	}
	select {
	case v := <-req.reply:
		return v
	case <-r.loopDone:
		select {
		case v := <-req.reply: // answered just before the end
			return v
		default:
			return r.final
		}
	}
}

// Recordings returns the finished recordings, oldest first.
func (r *Recorder) Recordings() []Recording { return r.ask().recordings }

// Sessions is the number of recording sessions not yet ended.
func (r *Recorder) Sessions() int { return r.ask().sessions }

// Devices returns what CSTA taught the recorder: extension → phone.
func (r *Recorder) Devices() map[string]DeviceInfo { return r.ask().devices }

// OnDemandMode is the record on demand mode in force: Config().OnDemand
// until SetOnDemand changes it.
func (r *Recorder) OnDemandMode() OnDemand { return r.ask().onDemand }
