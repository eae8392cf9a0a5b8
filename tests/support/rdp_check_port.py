# Runs impacket's rdp_check.py against PORT instead of its fixed 3389 (test harness only).
import runpy, socket, sys
port = int(sys.argv.pop(1))
connect = socket.socket.connect
def redirect(self, address):
    if isinstance(address, tuple) and address[1] == 3389:
        address = (address[0], port) + tuple(address[2:])
    return connect(self, address)
socket.socket.connect = redirect
script = sys.argv.pop(1)
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
