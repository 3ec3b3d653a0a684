-- Wireshark dissector for reclab's CSTA link (PBX TCP 8882 <-> recorder).
--
-- Each message is an 8-byte header and the ECMA-323 XML (docs/wire.md "CSTA"):
-- bytes 0-1 0x00 0x00, bytes 2-3 the total length (8 + XML) big-endian,
-- bytes 4-7 the invokeID as four ASCII digits (requests 0001-9998, responses
-- echo their request's, events 9999). The XML goes to Wireshark's own XML
-- dissector; messages spanning TCP segments are reassembled; the Info column
-- names each message and its invokeID.
--
--   tshark -X lua_script:tools/wireshark/csta.lua -r out/run1/lab.pcapng -Y reclab_csta
--   wireshark -X lua_script:tools/wireshark/csta.lua out/run1/lab.pcapng
--
-- Or copy it to Wireshark's personal Lua plugins folder (Help > About > Folders).

local csta = Proto("reclab_csta", "reclab CSTA (ECMA-323 XML, 8-byte framing)")

local f_format  = ProtoField.uint16("reclab_csta.format", "Format", base.HEX)
local f_length  = ProtoField.uint16("reclab_csta.length", "Length", base.DEC)
local f_invoke  = ProtoField.string("reclab_csta.invokeid", "Invoke ID")
local f_message = ProtoField.string("reclab_csta.message", "Message")
local f_kind    = ProtoField.string("reclab_csta.kind", "Kind")
csta.fields = { f_format, f_length, f_invoke, f_message, f_kind }

local e_framing = ProtoExpert.new("reclab_csta.framing", "CSTA framing lost",
    expert.group.MALFORMED, expert.severity.ERROR)
csta.experts = { e_framing }

local xml = Dissector.get("xml")
local HEADER = 8

-- The PDU's length from its header; a length under the header's own is
-- framing lost: take the header alone so the dissector moves on.
local function pdu_length(tvb, pinfo, offset)
    local total = tvb(offset + 2, 2):uint()
    if total < HEADER then
        return HEADER
    end
    return total
end

local function kind_of(id)
    if id == "9999" then
        return "event"
    end
    return "request or response"
end

local function dissect_pdu(tvb, pinfo, tree)
    local total = tvb(2, 2):uint()
    local t = tree:add(csta, tvb(0, math.max(HEADER, math.min(total, tvb:len()))))
    t:add(f_format, tvb(0, 2))
    t:add(f_length, tvb(2, 2))
    local id = tvb(4, 4):string()
    t:add(f_invoke, tvb(4, 4))
    pinfo.cols.protocol = "CSTA"
    if tvb(0, 2):uint() ~= 0 or total < HEADER then
        t:add_proto_expert_info(e_framing, string.format("header %s: length %d", tostring(tvb(0, 4):bytes()), total))
        pinfo.cols.info:append(" [CSTA framing lost]")
        return tvb:len()
    end
    local body = tvb(HEADER, total - HEADER)
    -- The message is the document's root element: the first tag that is
    -- not the <?xml ...?> prolog.
    local name = body:string():match("<([%a_][%w%._%-]*)") or "?"
    t:add(f_message, body, name)
    t:add(f_kind, tvb(4, 4), kind_of(id))
    t:append_text(string.format(", %s %s", name, id))
    pinfo.cols.info:append(string.format(" %s %s", name, id))
    xml:call(body:tvb(), pinfo, tree)
    return total
end

function csta.dissector(tvb, pinfo, tree)
    pinfo.cols.info:clear()
    dissect_tcp_pdus(tvb, tree, HEADER, pdu_length, dissect_pdu)
    return tvb:len()
end

DissectorTable.get("tcp.port"):add(8882, csta)
