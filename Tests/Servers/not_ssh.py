#!/usr/bin/env python3
"""A TCP server that is not (quite) an SSH server, for the handshake-failure tests. Every connection gets the
same treatment, chosen by --mode:

  close           accept, read the client's identification, then close (no byte sent)
  reset           accept, then reset (RST, no byte)
  garbage-close   send an HTTP error line, read the client's identification, then close
  garbage-silence send an HTTP error line, then keep the connection open and say nothing
  banner-close    send an SSH-2.0 identification, read the client's and the start of its key exchange, then close
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


def read_line(connection):
    """Reads until the client's identification line has arrived."""
    data = b""
    while b"\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


def serve(connection):
    try:
        if args.mode == "reset":
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
            return
        if args.mode in TEXT:
            connection.sendall(TEXT[args.mode])
        if args.mode.endswith("close"):
            # Close as a server does once it has read the client: a FIN after what was sent (closing with the
            # client's bytes unread would reset the connection, and a reset discards what the client has not read
            # yet). After an SSH identification, the client's key exchange is awaited first.
            received = read_line(connection)
            if args.mode == "banner-close":
                while len(received.split(b"\n", 1)[-1]) == 0:  # until the client's key exchange begins
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    received += chunk
            connection.shutdown(socket.SHUT_WR)
        while connection.recv(4096):  # read what comes, answer nothing, until the client goes
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
