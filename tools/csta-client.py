#!/usr/bin/env python3
"""A CSTA client outside reclab's codec: what a recorder product does when
its link to the switch opens (README "Split mode"). It waits for the
switch's SystemStatus, starts an ECMA-354 application session with the
application password, registers for system status, snapshots and monitors
a device, and prints every frame both ways, one line each. Requests go in
ISO-8859-1 and the SnapshotDevice without a namespace, as some clients send.

    tools/csta-client.py HOST:PORT PASSWORD DEVICE
"""
import socket
import sys
import time

ED4 = "http://www.ecma-international.org/standards/ecma-323/csta/ed4"
ECMA354 = "http://www.ecma-international.org/standards/ecma-354/appl_session"


def frame(invoke, xml):
    body = ('<?xml version="1.0" encoding="ISO-8859-1"?>' + xml).encode("iso-8859-1")
    return b"\0\0" + (8 + len(body)).to_bytes(2, "big") + ("%04d" % invoke).encode() + body


def recv(sock):
    head = b""
    while len(head) < 8:
        chunk = sock.recv(8 - len(head))
        if not chunk:
            raise EOFError("link closed")
        head += chunk
    n = int.from_bytes(head[2:4], "big") - 8
    body = b""
    while len(body) < n:
        body += sock.recv(n - len(body))
    return head[4:8].decode(), body.decode("utf-8")


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    password, device = sys.argv[2], sys.argv[3]
    started = time.monotonic()
    sock = socket.create_connection((host, int(port)), timeout=10)

    def show(direction, invoke, xml):
        print("%7.3f %s %s %s" % (time.monotonic() - started, direction, invoke, xml))

    invoke, xml = recv(sock)
    show("<-", invoke, xml)
    if "SystemStatus" not in xml:
        sys.exit("the switch did not open with SystemStatus")
    requests = [
        '<StartApplicationSession xmlns="%s"><applicationInfo><applicationID>Enregistreur-Démo</applicationID>'
        "<applicationSpecificInfo><password>%s</password></applicationSpecificInfo></applicationInfo>"
        "<requestedProtocolVersions><protocolVersion>%s</protocolVersion></requestedProtocolVersions>"
        "<requestedSessionDuration>120</requestedSessionDuration></StartApplicationSession>" % (ECMA354, password, ED4),
        '<SystemRegister xmlns="%s"><requestTypes><systemStatus>true</systemStatus></requestTypes></SystemRegister>' % ED4,
        "<SnapshotDevice><snapshotObject>%s</snapshotObject></SnapshotDevice>" % device,
        '<MonitorStart xmlns="%s"><monitorObject><deviceObject>%s</deviceObject></monitorObject></MonitorStart>' % (ED4, device),
        '<MakeCall xmlns="%s"><callingDevice>%s</callingDevice><calledDirectoryNumber>1</calledDirectoryNumber></MakeCall>' % (ED4, device),
    ]
    for i, req in enumerate(requests, start=1):
        sock.sendall(frame(i, req))
        show("->", "%04d" % i, req)
        while True:
            got, xml = recv(sock)
            show("<-", got, xml)
            if got == "%04d" % i:
                break
    sock.close()


if __name__ == "__main__":
    main()
