#!/usr/bin/python3
"""Decrypts SRTP packets with libsrtp (Debian python3-pylibsrtp), an
implementation nobody here wrote, for TestSRTPDecryptsWithLibsrtp.

stdin: the first line is SUITE BASE64-KEY-AND-SALT (an SDP a=crypto's
suite and inline key, RFC 4568); every other line one SRTP packet in hex.
stdout: each packet's RTP payload in hex, one a line, in order; a packet
libsrtp refuses is an error naming its line.
"""
import base64
import sys

from pylibsrtp import Policy, Session

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AEAD_AES_128_GCM": Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


def main():
    lines = sys.stdin.read().split("\n")
    suite, inline = lines[0].split()
    policy = Policy(key=base64.b64decode(inline), ssrc_type=Policy.SSRC_ANY_INBOUND,
                    srtp_profile=PROFILES[suite])
    session = Session(policy=policy)
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            rtp = session.unprotect(bytes.fromhex(line.strip()))
        except Exception as e:  # libsrtp's own error: authentication, replay
            sys.exit("stdin:%d: libsrtp refused the packet: %s" % (i, e))
        cc = rtp[0] & 0x0F
        head = 12 + 4 * cc
        if rtp[0] & 0x10:  # a header extension
            head += 4 + 4 * int.from_bytes(rtp[head + 2:head + 4], "big")
        print(rtp[head:].hex())


if __name__ == "__main__":
    main()
