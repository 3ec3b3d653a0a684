package sim

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// The lab's notes in the capture (issue 17): each note, narration line or
// error is a frame of its own on interface "notes", in time order among the
// packets, so Wireshark shows why next to what. The frame is Wireshark's
// exported-PDU encapsulation handing a syslog message to its syslog
// dissector (the Info column reads "LOCAL0.INFO: recorder: …"), and the
// same text is the frame's packet comment (pcapng opt_comment), which
// Wireshark lists under Expert Info → Comments and tshark prints as
// frame.comment.
const (
	// pcapLinkUpperPDU is LINKTYPE_WIRESHARK_UPPER_PDU (tcpdump.org link types).
	pcapLinkUpperPDU layers.LinkType = 252
	// Exported-PDU tags (Wireshark's epan/exported_pdu.h), big-endian.
	pcapPDUTagEnd        = 0
	pcapPDUTagDissector  = 12
	pcapSyslogLocal0Info = 16*8 + 6 // RFC 5424 §6.2.1: facility local0, severity informational
	pcapSyslogLocal0Err  = 16*8 + 3 // severity error
	pcapNoteMax          = 4096     // longer notes are cut, with a mark
	pcapBlockEPB         = 6
	pcapOptComment       = 1
)

// writeNote writes a note record as a frame on the "notes" interface.
func (p *PcapWriter) writeNote(ts time.Time, node, text string, isErr bool) {
	if p.err != nil {
		return
	}
	if p.notesIface < 0 {
		id, err := p.w.AddInterface(pcapgo.NgInterface{Name: "notes",
			Description: "reclab: the lab's notes, narration and errors, as syslog", LinkType: pcapLinkUpperPDU,
			SnapLength: pcapSnapLen, TimestampResolution: 9})
		if err != nil {
			p.fail(fmt.Errorf("sim: pcap: interface notes: %w", err))
			return
		}
		p.notesIface = id
	}
	line := node + ": " + strings.ToValidUTF8(text, "?")
	if len(line) > pcapNoteMax {
		line = line[:pcapNoteMax] + "…"
	}
	pri := pcapSyslogLocal0Info
	if isErr {
		pri = pcapSyslogLocal0Err
	}

	// The Enhanced Packet Block (pcapng §4.3): its head, the exported PDU
	// (the dissector tag, the end tag, the syslog message), the line again
	// as opt_comment; written whole like every other record.
	ns := p.stamp(ts).UnixNano()
	blk := p.note[:0]
	blk = binary.LittleEndian.AppendUint32(blk, pcapBlockEPB)
	blk = binary.LittleEndian.AppendUint32(blk, 0) // total length, below
	blk = binary.LittleEndian.AppendUint32(blk, uint32(p.notesIface))
	blk = binary.LittleEndian.AppendUint32(blk, uint32(ns>>32))
	blk = binary.LittleEndian.AppendUint32(blk, uint32(ns))
	blk = binary.LittleEndian.AppendUint32(blk, 0) // captured length, below
	blk = binary.LittleEndian.AppendUint32(blk, 0) // original length, below
	blk = binary.BigEndian.AppendUint16(blk, pcapPDUTagDissector)
	blk = binary.BigEndian.AppendUint16(blk, uint16(len("syslog")))
	blk = append(blk, "syslog"...)
	blk = binary.BigEndian.AppendUint16(blk, pcapPDUTagEnd)
	blk = binary.BigEndian.AppendUint16(blk, 0)
	blk = fmt.Appendf(blk, "<%d>%s", pri, line)
	data := uint32(len(blk) - 28)
	binary.LittleEndian.PutUint32(blk[20:], data)
	binary.LittleEndian.PutUint32(blk[24:], data)
	blk = pcapPad(blk)
	blk = binary.LittleEndian.AppendUint16(blk, pcapOptComment)
	blk = binary.LittleEndian.AppendUint16(blk, uint16(len(line)))
	blk = pcapPad(append(blk, line...))
	blk = append(blk, 0, 0, 0, 0) // opt_endofopt
	binary.LittleEndian.PutUint32(blk[4:], uint32(len(blk)+4))
	blk = binary.LittleEndian.AppendUint32(blk, uint32(len(blk)+4))
	p.note = blk
	if !p.room(len(blk)) {
		return
	}
	if _, err := p.bw.Write(blk); err != nil {
		p.fail(fmt.Errorf("sim: pcap: %w", err))
	}
}

// pcapPad pads b to a multiple of four bytes, as every pcapng field is.
func pcapPad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
