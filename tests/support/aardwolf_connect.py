# Connects with aardwolf to 127.0.0.1:PORT as USER, offering TLS and NLA (CredSSP: NTLM
# wrapped in SPNEGO), the password read from stdin (never on a command line), and prints
# one verdict line: "granted" when aardwolf's connect() succeeds (the whole connection
# sequence; with --auth-only, CredSSP alone), else "refused: " and aardwolf's own error.
#
# --server-timestamp: aardwolf builds its NTLMv2 response on its own clock; MS-NLMP 3.3.2
# says a client SHOULD take the CHALLENGE's MsvAvTimestamp (Windows clients do). The NTLM
# server of sspi 0.23 (the mocks') rebuilds the response with its own timestamp, so it
# accepts only clients that do; this option makes aardwolf one of them.
#
# Test harness only: usage aardwolf_connect.py PORT USER [--auth-only] [--server-timestamp]
import asyncio
import logging
import sys

from aardwolf.commons.iosettings import RDPIOSettings
from aardwolf.commons.target import RDPTarget
from aardwolf.connection import RDPConnection
from asyauth.common.constants import asyauthSecret
from asyauth.common.credentials.ntlm import NTLMCredential
from asyauth.protocols.ntlm.structures.avpair import AVPAIRType
from asyauth.protocols.ntlm.structures.challenge_response import NTLMv2ClientChallenge

# aardwolf's debug log would show the CredSSP messages.
logging.disable(logging.CRITICAL)


async def main(port, user, password, auth_only):
    target = RDPTarget(ip="127.0.0.1", port=port, hostname="localhost", timeout=10)
    credential = NTLMCredential(password, user, None, asyauthSecret.PASSWORD)
    connection = RDPConnection(target, credential, RDPIOSettings())
    ok, err = await connection.connect(auth_only=auth_only)
    if err is None:
        await connection.terminate()
        return "granted"
    return "refused: %s" % err


def with_server_timestamp(construct):
    def build(timestamp, client_challenge, details):
        challenge = construct(timestamp, client_challenge, details)
        server_time = details.get(AVPAIRType.MsvAvTimestamp)
        if server_time is not None:
            challenge.TimeStamp = server_time
        return challenge
    return staticmethod(build)


port, user = int(sys.argv[1]), sys.argv[2]
auth_only = "--auth-only" in sys.argv[3:]
if "--server-timestamp" in sys.argv[3:]:
    NTLMv2ClientChallenge.construct = with_server_timestamp(NTLMv2ClientChallenge.construct)
password = sys.stdin.readline().rstrip("\n")
try:
    # A bound on a run that hangs, not a measurement.
    verdict = asyncio.run(asyncio.wait_for(main(port, user, password, auth_only), 60))
except asyncio.TimeoutError:
    verdict = "hung"
print(verdict, flush=True)
