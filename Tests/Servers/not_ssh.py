#!/usr/bin/env python3
"""A TCP server that is not (quite) an SSH server, for the handshake-failure tests. Every connection gets the
same treatment, chosen by --mode:

  close           accept, then close at once (no byte)
  reset           accept, then reset (RST, no byte)
  garbage-close   send an HTTP error line, then close
  garbage-silence send an HTTP error line, then keep the connection open and say nothing
  banner-close    send an SSH-2.0 identification, then close
  banner-silence  send an SSH-2.0 identification, then say nothing
  ssh1            send an SSH-1.5 identification, then say nothing
"""
import argparse
import socket
import struct
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--host", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--mode", required=True)
args = parser.parse_args()

TEXT = {
    "garbage-close": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "garbage-silence": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "banner-close": b"SSH-2.0-NotQuite_1.0\r\n",
    "banner-silence": b"SSH-2.0-NotQuite_1.0\r\n",
    "ssh1": b"SSH-1.5-OldServer_1.0\r\n",
}


def serve(connection):
    try:
        if args.mode == "reset":
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
            return
        if args.mode in TEXT:
            connection.sendall(TEXT[args.mode])
        if args.mode.endswith("close") or args.mode == "close":
            connection.close()
            return
        while connection.recv(4096):  # silence: read what comes, answer nothing, until the client goes
            pass
    except OSError:
        pass
    finally:
        connection.close()


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((args.host, args.port))
listener.listen(64)
print("listening", flush=True)
while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
