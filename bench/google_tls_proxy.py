"""A loopback HTTPS proxy that hands Google API traffic to a local fake, for peers that cannot be
given an API URL.

Node servers built on `googleapis` (gaxios) always call https://www.googleapis.com, but honour
`HTTPS_PROXY` and trust extra CAs from `NODE_EXTRA_CA_CERTS`. This proxy answers their
`CONNECT www.googleapis.com:443` itself, terminates TLS with a certificate for
`*.googleapis.com` signed by a throw-away CA made for the run (written to `ca_file`), and
relays the decrypted HTTP/1.1 to the fake over plain TCP. Nothing leaves 127.0.0.1, and the
peer's code is unchanged: only its environment points it here.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import socketserver
import ssl
import tempfile
import threading
from pathlib import Path

HOSTS = ("www.googleapis.com", "oauth2.googleapis.com", "drive.googleapis.com", "*.googleapis.com")


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA certificate, and a server certificate and key for HOSTS signed by it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "patchbay bench CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class GoogleTlsProxy:
    """`with GoogleTlsProxy(fake_port) as proxy:` then give the peer `proxy.env()`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._folder = tempfile.TemporaryDirectory(prefix="patchbay-tls-proxy-")
        self.ca_file, cert, key = _certificates(Path(self._folder.name))
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self.tunnels = 0
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                if not head.startswith(b"CONNECT "):
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                proxy.tunnels += 1
                tls = proxy._context.wrap_socket(self.request, server_side=True)
                upstream = socket.create_connection(("127.0.0.1", proxy.upstream_port))
                upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                back = threading.Thread(target=_pump, args=(upstream, tls), daemon=True)
                back.start()
                _pump(tls, upstream)
                back.join(timeout=30)
                upstream.close()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, for HTTPS_PROXY."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """The environment that sends a Node googleapis client here."""
        return {
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            "NO_PROXY": "",
            "no_proxy": "",
            "NODE_EXTRA_CA_CERTS": str(self.ca_file),
        }

    def __enter__(self) -> GoogleTlsProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._folder.cleanup()
