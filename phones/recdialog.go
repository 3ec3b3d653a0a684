package phones

import (
	"fmt"
	"net/netip"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// recDialog is the phone's side of a recording session's SIP dialog.
// Owned by the phone's loop.
type recDialog struct {
	dlg    *sipgo.DialogServerSession
	tx     sip.ServerTransaction // the INVITE's
	answer []byte                // our SDP answer, repeated on re-INVITE

	// What an in-dialog request must match (admit): the dialog (Call-ID
	// and both tags), the address the session was set up from, and the
	// order of the recorder's CSeq.
	id         string
	peer       netip.AddrPort
	remoteCSeq uint32 // the highest CSeq of the recorder's requests so far
	inviteCSeq uint32 // the last (re-)INVITE's, which its ACK repeats
}

func newRecDialog(dlg *sipgo.DialogServerSession, tx sip.ServerTransaction, answer []byte, peer netip.AddrPort) *recDialog {
	d := &recDialog{dlg: dlg, tx: tx, answer: answer, id: dlg.ID, peer: peer}
	if c := dlg.InviteRequest.CSeq(); c != nil {
		d.remoteCSeq, d.inviteCSeq = c.SeqNo, c.SeqNo
	}
	return d
}

// admit judges an in-dialog request (RFC 3261 §12.2.2) and, when it is the
// session's, counts its CSeq. code is the refusal (0: admitted; for an ACK
// the request is only dropped): 403 from anywhere but the session's peer
// (the allow-list names addresses, and a request from the recorder's
// address but another port is not the recorder's session), 481 for tags
// that are not the dialog's, 500 for a CSeq out of order.
func (d *recDialog) admit(method sip.RequestMethod, id string, cseq uint32, src netip.AddrPort) (code int, why string) {
	switch {
	case src != d.peer:
		return 403, fmt.Sprintf("%s from %s refused: the recording session was set up from %s", method, src, d.peer)
	case id != d.id:
		return 481, fmt.Sprintf("%s refused: its tags are not the recording dialog's (RFC 3261 §12.2.2)", method)
	case method == sip.ACK:
		if cseq != d.inviteCSeq {
			return 400, fmt.Sprintf("ACK with CSeq %d dropped: the INVITE it would acknowledge had %d", cseq, d.inviteCSeq)
		}
		return 0, ""
	case cseq <= d.remoteCSeq:
		return 500, fmt.Sprintf("%s with CSeq %d refused: out of order, the dialog is at %d (RFC 3261 §12.2.2)", method, cseq, d.remoteCSeq)
	}
	d.remoteCSeq = cseq
	if method == sip.INVITE {
		d.inviteCSeq = cseq
	}
	return 0, ""
}

// refusalReason is the reason phrase of admit's codes.
var refusalReason = map[int]string{
	400: "Bad Request",
	403: "Forbidden",
	481: "Call/Transaction Does Not Exist",
	500: "Server Internal Error",
}
