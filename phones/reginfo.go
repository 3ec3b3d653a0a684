package phones

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// maxRegInfo bounds a reg-event NOTIFY's body: the PBX's log-off is a few
// hundred bytes.
const maxRegInfo = 16 << 10

// regInfo is an RFC 3680 §5.3 registration information document, as much
// of it as the phone reads.
type regInfo struct {
	XMLName       xml.Name `xml:"reginfo"`
	Registrations []struct {
		AOR      string `xml:"aor,attr"`
		State    string `xml:"state,attr"`
		Contacts []struct {
			State string `xml:"state,attr"`
			URI   string `xml:"uri"`
			Text  string `xml:",chardata"` // some registrars put the URI here
		} `xml:"contact"`
	} `xml:"registration"`
}

// regInfoLogsOff reads the reginfo body of the PBX's reg-event NOTIFY
// (docs/wire.md "Registration", spec §3.2.3): it logs the phone off when
// the registration of the phone's own extension ext is terminated, or one
// of its contacts at the phone's address is. A document about other
// extensions or other contacts changes nothing. err names what is wrong
// with a body that is not such a document.
func regInfoLogsOff(body []byte, ext string, self netip.AddrPort) (bool, error) {
	if len(body) > maxRegInfo {
		return false, fmt.Errorf("reginfo of %d bytes, at most %d", len(body), maxRegInfo)
	}
	var doc regInfo
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&doc); err != nil {
		return false, fmt.Errorf("reginfo: %w", err)
	}
	for _, r := range doc.Registrations {
		var aor sip.Uri
		if err := sip.ParseUri(strings.TrimSpace(r.AOR), &aor); err != nil || aor.User != ext {
			continue
		}
		if strings.EqualFold(r.State, "terminated") {
			return true, nil
		}
		for _, c := range r.Contacts {
			if !strings.EqualFold(c.State, "terminated") {
				continue
			}
			s := strings.TrimSpace(c.URI)
			if s == "" {
				s = strings.TrimSpace(c.Text)
			}
			var u sip.Uri
			if err := sip.ParseUri(s, &u); err != nil {
				continue
			}
			port := u.Port
			if port == 0 {
				port = 5060
			}
			if ip, err := netip.ParseAddr(u.Host); err == nil && netip.AddrPortFrom(ip, uint16(port)) == self {
				return true, nil
			}
		}
	}
	return false, nil
}
