"""A loopback HTTPS proxy that hands `https://slack.com/api/...` to the fake Slack, for peers with no API-URL setting.

korotovsky's `slack-mcp-server` calls `https://slack.com/api/` and has no setting to change
that, but it has `SLACK_MCP_PROXY` (an HTTP proxy for its requests) and
`SLACK_MCP_SERVER_CA_INSECURE` (skip TLS verification). So the benchmark gives it this proxy:
a `CONNECT` is answered with TLS under a throw-away self-signed certificate, and each request
inside goes to the fake over plain HTTP on 127.0.0.1, answer passed back as is. Only
connections to slack.com (and its subdomains, which auth.test names) are accepted; nothing leaves the machine.
"""

from __future__ import annotations

import datetime
import http.client
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "slack.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("slack.com"), x509.DNSName("*.slack.com")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class SlackProxy:
    """`with SlackProxy(fake_port) as proxy:` then `SLACK_MCP_PROXY=proxy.url`."""

    def __init__(self, fake_port: int) -> None:
        self.fake_port = fake_port
        self.forwarded = 0
        self._folder = tempfile.TemporaryDirectory(prefix="slack-mitm-")
        cert, key = _certificate(Path(self._folder.name))
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.tls.set_alpn_protocols(["http/1.1"])
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._proxy_handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> SlackProxy:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._folder.cleanup()

    def _proxy_handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self._body()
                dropped = ("host", "accept-encoding", "transfer-encoding", "content-length")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.fake_port, timeout=30)
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                proxy.forwarded += 1
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes | None:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()  # the blank line after the last chunk
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else None

            do_GET = do_POST = _forward

        class Connect(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_CONNECT(self) -> None:
                host, _, port = self.path.rpartition(":")
                if port != "443" or not (host == "slack.com" or host.endswith(".slack.com")):
                    self.send_error(403, "only slack.com is proxied")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                tls = proxy.tls.wrap_socket(self.connection, server_side=True)
                Forward(tls, self.client_address, self.server)
                self.close_connection = True

        return Connect
