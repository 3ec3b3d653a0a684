package labtest

import (
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// InDialogRequest is a request inside the dialog callID with tags fromTag
// (the sender's) and toTag, CSeq seq, to dst: what an attacker who saw the
// dialog's messages forges (issue 11 item 3). The users in its URIs are
// placeholders: a dialog is matched by Call-ID and tags (RFC 3261 §12.2.2).
func InDialogRequest(method sip.RequestMethod, dst netip.AddrPort, callID, fromTag, toTag string, seq uint32) *sip.Request {
	host := dst.Addr().String()
	req := sip.NewRequest(method, sip.Uri{User: "forged", Host: host, Port: int(dst.Port())})
	from := &sip.FromHeader{Address: sip.Uri{User: "forger", Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", fromTag)
	to := &sip.ToHeader{Address: sip.Uri{User: "forged", Host: host}, Params: sip.NewParams()}
	to.Params.Add("tag", toTag)
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.SetDestination(dst.String())
	return req
}
