"""A stand-in for the vendors' redirect services: the standard library's XML-RPC server in a thread,
with HTTP Basic auth, speaking Yealink RPS's and Snom's methods, on a free port."""

from __future__ import annotations

import base64
import threading
from http import HTTPStatus
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


class Service:
    """What the vendor holds (MAC -> URL), every call made, and switches to misbehave."""

    def __init__(self, username: str = "acme", password: str = "rps-S3cret!pw"):
        self.username = username
        self.password = password
        self.registered: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []  # (method, mac)
        self.down = False  # answer 503
        self.owned_by_other: set[str] = set()
        self.lock = threading.Lock()

    # Yealink RPS
    def yl_register(self, mac: str, server_name: str, url: str, override: bool) -> list:
        return self._register(mac, url)

    def yl_deregister(self, mac: str) -> list:
        return self._deregister(mac)

    def yl_check(self, mac: str) -> list:
        return self._check(mac)

    def _register(self, mac: str, url: str) -> list:
        with self.lock:
            self.calls.append(("register", mac))
            if mac in self.owned_by_other:
                return [False, "owned_by_other_user: the device is registered by another user"]
            if len(mac) != 12:
                return [False, "invalid mac format"]
            self.registered[mac] = url
            return [True, "ok"]

    def _deregister(self, mac: str) -> list:
        with self.lock:
            self.calls.append(("deregister", mac))
            if mac not in self.registered:
                return [False, "device not exist"]
            del self.registered[mac]
            return [True, "ok"]

    def _check(self, mac: str) -> list:
        with self.lock:
            self.calls.append(("check", mac))
            if mac in self.registered:
                return [True, {"mac": mac, "url": self.registered[mac]}]
            return [False, "device not exist"]

    def history(self, mac: str) -> list[str]:
        return [m for m, x in self.calls if x == mac]


def start(service: Service) -> tuple[SimpleXMLRPCServer, str]:
    class Handler(SimpleXMLRPCRequestHandler):
        rpc_paths = ("/xmlrpc",)

        def do_POST(self) -> None:  # http.server's name
            if service.down:
                self.send_response(HTTPStatus.SERVICE_UNAVAILABLE)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            expected = base64.b64encode(f"{service.username}:{service.password}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {expected}":
                self.send_response(HTTPStatus.UNAUTHORIZED)
                self.send_header("WWW-Authenticate", 'Basic realm="rps"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_POST()

        def log_message(self, *args: object) -> None:
            pass

    server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Handler, allow_none=True, logRequests=False)
    server.register_function(service.yl_register, "redirect.registerDeviceWithUniqueUrl")
    server.register_function(service.yl_deregister, "redirect.deRegisterDevice")
    server.register_function(service.yl_check, "redirect.checkDevice")
    server.register_function(service._register, "redirect.registerPhone")
    server.register_function(service._deregister, "redirect.deregisterPhone")
    server.register_function(service._check, "redirect.checkPhone")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/xmlrpc"
