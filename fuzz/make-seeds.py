#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/): small valid inputs of each format, so
libFuzzer starts from the structures the parsers expect. Run once; the seeds are committed."""
import os
import struct
import subprocess
import tempfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def string(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack(">I", len(b)) + b


def packet(payload):
    return struct.pack(">I", len(payload)) + payload


def attrs(size=1234, mode=0o100644):
    return struct.pack(">IQII", 0x1 | 0x4 | 0x8, size, mode, 0)[:4 + 8 + 4] + struct.pack(">II", 1, 2)


# SFTP: first byte picks the chunk size the stream is cut into.
put("sftp", "version", b"\x07" + packet(b"\x02" + struct.pack(">I", 3) + string("posix-rename@openssh.com") + string("1")))
put("sftp", "status", b"\x03" + packet(b"\x65" + struct.pack(">II", 1, 2) + string("No such file") + string("en")))
put("sftp", "handle-data", b"\x10" + packet(b"\x66" + struct.pack(">I", 2) + string(b"\x00\x01handle"))
    + packet(b"\x67" + struct.pack(">I", 3) + string(b"x" * 100)))
put("sftp", "name", b"\x01" + packet(b"\x68" + struct.pack(">II", 4, 2) + string("a") + string("-rw-r--r-- a")
                                     + attrs() + string("..") + string("drwx ..") + struct.pack(">I", 0)))
put("sftp", "attrs-extended", b"\x20" + packet(b"\x69" + struct.pack(">II", 5, 0x80000000 | 0x1) + struct.pack(">Q", 9)
                                               + struct.pack(">I", 1) + string("k") + string("v")))

# SCP: first byte odd for a recursive receive.
put("scp", "file", b"\x00C0644 12 notes.txt\n")
put("scp", "tree", b"\x01D0755 0 top\nT1700000000 0 1700000000 0\nC0644 3 a\nD0700 0 sub\nC0600 0 b\nE\nE\n")
put("scp", "error", b"\x01\x02scp: /x: No such file or directory\n")
put("scp", "warning", b"\x00\x01scp: warning\nC0644 1 x\n")

# Node sets.
for name, text in [("range", "node[1-5,7,9-12]"), ("padded", "web[01-20].example.com,db[08-10]"),
                   ("product", "rack[1-2]-n[01-03]"), ("list", "a, b ,c[1-2],d")]:
    put("nodeset", name, text)

# known_hosts: real lines from ssh-keygen, plain, hashed, bracketed, markers, negation.
with tempfile.TemporaryDirectory() as d:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/k"], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", f"{d}/e"], check=True)
    ed = open(f"{d}/k.pub").read().split()[:2]
    ec = open(f"{d}/e.pub").read().split()[:2]
    plain = f"host.example,10.0.0.1 {ed[0]} {ed[1]}\n[10.0.0.1]:2222 {ec[0]} {ec[1]} comment\n"
    with open(f"{d}/kh", "w") as f:
        f.write(plain)
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", f"{d}/kh"], check=True, capture_output=True)
    put("known-hosts", "plain", plain)
    put("known-hosts", "hashed", open(f"{d}/kh").read())
    put("known-hosts", "markers", f"@revoked * {ed[0]} {ed[1]}\n@cert-authority *.example,!bad.example {ec[0]} {ec[1]}\n"
        f"# comment\n\n*.ex?mple {ed[0]} {ed[1]}\n")

# ssh_config.
put("ssh-config", "hosts", "Host *.example !bad.example\n  User alice\n  Port 2222\n  HostName %h.internal\n"
    "Host *\n  IdentityFile ~/.ssh/id_%r_%h\n  ServerAliveInterval 15\n")
put("ssh-config", "match", "Match host fuzz.example user root\n  ProxyJump admin@bastion:22,[::1]:2200\n"
    "Match final canonical all\n  Ciphers +aes128-ctr\n  StrictHostKeyChecking accept-new\n")
put("ssh-config", "quoting", 'Host "fuzz example" fuzz.*\n  RemoteCommand "echo \\"%u\\""\n  SetEnv A=1 "B=two words"\n'
    "  KexAlgorithms=-diffie-hellman-group1-sha1\n  CanonicalizeHostname yes\n  CanonicalDomains example\n")

# KEXINIT: identification then one packet.
def kexinit(lists):
    payload = b"\x14" + b"\x07" * 16 + b"".join(string(x) for x in lists) + b"\x00" + b"\x00\x00\x00\x00"
    padding = 8 - (len(payload) + 5) % 8 + 4
    return struct.pack(">IB", 1 + len(payload) + padding, padding) + payload + b"\x00" * padding


default = ["curve25519-sha256,kex-strict-s-v00@openssh.com", "ssh-ed25519,rsa-sha2-512",
           "chacha20-poly1305@openssh.com,aes128-ctr", "chacha20-poly1305@openssh.com,aes128-ctr",
           "umac-64-etm@openssh.com,hmac-sha2-256", "umac-64-etm@openssh.com,hmac-sha2-256", "none", "none", "", ""]
put("kexinit", "openssh", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n" + kexinit(default))
put("kexinit", "tinyssh", b"SSH-2.0-tinyssh_noversion\r\n" + kexinit(["curve25519-sha256", "ssh-ed25519",
    "chacha20-poly1305@openssh.com", "chacha20-poly1305@openssh.com", "hmac-sha2-256", "hmac-sha2-256", "none", "none", "", ""]))
put("kexinit", "banner-lines", b"Welcome\r\nrules apply\nSSH-2.0-x\n" + kexinit(["a", "b", "c", "c", "d", "d", "none", "none", "", ""]))

# Private keys: throwaway keys ssh-keygen writes with the passphrase the target uses ("fuzzy"), few bcrypt rounds.
with tempfile.TemporaryDirectory() as keys:
    for name, arguments in (("openssh-aes256-ctr", ["-t", "ed25519", "-a", "1", "-N", "fuzzy"]),
                            ("openssh-aes256-gcm", ["-t", "ed25519", "-a", "2", "-N", "fuzzy", "-Z", "aes256-gcm@openssh.com"]),
                            ("openssh-unencrypted", ["-t", "ed25519", "-N", ""]),
                            ("pem-ecdsa-encrypted", ["-t", "ecdsa", "-m", "PEM", "-N", "fuzzy"])):
        path = os.path.join(keys, name)
        subprocess.run(["ssh-keygen", "-q", "-C", "fuzz seed", "-f", path] + arguments, check=True)
        with open(path, "rb") as f:
            put("private-key", name, f.read())

# Names: hosts and users as written on a command line, fair and hostile.
for name, text in [("plain", "web-01.example.com"), ("user-at", "deploy@web1:2222"), ("ipv6", "[::1]:22"),
                   ("dollar", "a$(touch /tmp/x)"), ("backtick", "u`id`@h"), ("dash", "-oProxyCommand=id"),
                   ("escape", "\x1b]0;title\x07"), ("dots", ".."), ("slashes", "evil/../../x")]:
    put("names", name, text)

# Lines: first byte the cap (4..35), second the chunk size (1..16), then output.
put("lines", "short", b"\x00\x03one\r\ntwo\n\nthree")
put("lines", "long", b"\x10\x05" + b"a" * 200 + b"\n" + b"b" * 50)
put("lines", "utf8", b"\x01\x07" + "é".encode() * 40 + b"\r\n\n")
