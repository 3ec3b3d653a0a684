package tui

// keyID is what a key asks for. The help screen and the dispatch in Update
// read the same table, so every key the help lists is handled.
type keyID uint8

const (
	kUp keyID = iota
	kDown
	kPageUp
	kPageDown
	kTop
	kBottom
	kFocus
	kSelectPhone
	kDetail
	kBack
	kRegister
	kUnregister
	kDial
	kAnswer
	kHangUp
	kPower
	kRecordKey
	kFirmware
	kForcedLogOff
	kPBXRestart
	kImpair
	kLift
	kRecordMode
	kFaster
	kSlower
	kPause
	kClear
	kFilter
	kSearch
	kNext
	kPrev
	kExport
	kScenario
	kStep
	kHold
	kCalls
	kDialogs
	kDelta
	kWhy
	kSavePcap
	kSaveScenario
	kStepBack
	kMapping
	kHelp
	kQuit
)

// binding is one line of the help: the keys (as tea.KeyMsg.String() gives
// them), what they do (short: the help fits 80x24 in two columns), and the
// group they are listed under.
type binding struct {
	id    keyID
	keys  []string
	shown string // how the help writes the keys
	help  string
	group string
}

var bindings = []binding{
	{kUp, []string{"up", "k"}, "↑ k", "previous message / phone", "Move"},
	{kDown, []string{"down", "j"}, "↓ j", "next message / phone", "Move"},
	{kPageUp, []string{"pgup", "ctrl+u"}, "PgUp ^u", "page up", "Move"},
	{kPageDown, []string{"pgdown", "ctrl+d"}, "PgDn ^d", "page down", "Move"},
	{kTop, []string{"home", "g"}, "Home g", "oldest message", "Move"},
	{kBottom, []string{"end", "G"}, "End G", "newest message, follow", "Move"},
	{kFocus, []string{"tab", "shift+tab"}, "Tab", "Flow / Nodes / Log pane", "Move"},
	{kSelectPhone, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}, "1-9", "select the phone to act on", "Move"},
	{kDetail, []string{"enter"}, "Enter", "message in full / back", "Move"},
	{kBack, []string{"esc"}, "Esc", "close; clear the filter", "Move"},

	{kRegister, []string{"r"}, "r", "register", "Phone"},
	{kUnregister, []string{"u"}, "u", "unregister", "Phone"},
	{kDial, []string{"d"}, "d", "dial a number", "Phone"},
	{kAnswer, []string{"a"}, "a", "answer", "Phone"},
	{kHangUp, []string{"x"}, "x", "hang up", "Phone"},
	{kPower, []string{"P"}, "P", "power off / on", "Phone"},
	{kRecordKey, []string{"R"}, "R", "press the record key", "Phone"},
	{kFirmware, []string{"F"}, "F", "firmware update order", "Phone"},
	{kForcedLogOff, []string{"L"}, "L", "forced log-off", "Phone"},

	{kPBXRestart, []string{"B"}, "B", "restart the PBX", "Lab"},
	{kImpair, []string{"I"}, "I", "impair the network", "Lab"},
	{kLift, []string{"O"}, "O", "lift impairments", "Lab"},
	{kMapping, []string{"m"}, "m", "recorder mapping dynamic/static", "Lab"},
	{kRecordMode, []string{"M"}, "M", "on-demand mode off/start/save", "Lab"},
	{kFaster, []string{"+"}, "+", "lab clock faster", "Lab"},
	{kSlower, []string{"-"}, "-", "lab clock slower", "Lab"},
	{kScenario, []string{"s"}, "s", "run a scenario (list)", "Lab"},
	{kHold, []string{"H"}, "H", "step mode: hold each message / play", "Lab"},
	{kStep, []string{"."}, ".", "next message (H) / scenario step", "Lab"},
	{kStepBack, []string{"b"}, "b", "back: replay to previous action", "Lab"},

	{kCalls, []string{"C"}, "C", "calls list, Enter its ladder", "View"},
	{kDialogs, []string{"D"}, "D", "SIP dialogs list", "View"},
	{kDelta, []string{"T"}, "T", "Δt from selected / absolute", "View"},
	{kWhy, []string{"w"}, "w", "why line under each arrow", "View"},
	{kSavePcap, []string{"p"}, "p", "save selected call as pcap", "View"},
	{kSaveScenario, []string{"W"}, "W", "save session as scenario", "View"},
	{kPause, []string{" "}, "Space", "pause / resume display", "View"},
	{kClear, []string{"c"}, "c", "clear flow and log", "View"},
	{kFilter, []string{"f"}, "f", "filter: phone, proto, method", "View"},
	{kSearch, []string{"/"}, "/", "search", "View"},
	{kNext, []string{"n"}, "n", "next match", "View"},
	{kPrev, []string{"N"}, "N", "previous match", "View"},
	{kExport, []string{"e"}, "e", "export Mermaid + report", "View"},
	{kHelp, []string{"?"}, "?", "this help", "View"},
	{kQuit, []string{"q", "ctrl+c"}, "q ^c", "quit", "View"},
}

// keyIndex maps a key string to its binding.
var keyIndex = func() map[string]keyID {
	m := map[string]keyID{}
	for _, b := range bindings {
		for _, k := range b.keys {
			m[k] = b.id
		}
	}
	return m
}()

// phoneKeys are the keys that do one action on the selected phone.
var phoneKeys = map[keyID]ActionKind{
	kRegister:   ActRegister,
	kUnregister: ActUnregister,
	kAnswer:     ActAnswer,
	kHangUp:     ActHangUp,
	kPower:      ActPower,
	kRecordKey:  ActRecordKey,
	kFirmware:   ActFirmwareUpdate,
}

// gatedKeys are the keys whose action a lab may not have yet
// (Backend.Available); the help marks them.
var gatedKeys = map[keyID]ActionKind{
	kRecordKey:    ActRecordKey,
	kFirmware:     ActFirmwareUpdate,
	kForcedLogOff: ActForcedLogOff,
	kPBXRestart:   ActPBXRestart,
	kImpair:       ActImpair,
	kLift:         ActLift,
	kRecordMode:   ActRecordMode,
	kHold:         ActHold,
}
