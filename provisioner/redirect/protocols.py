"""Speaking to a vendor's redirect service: one XML-RPC call over aiohttp, and what its answer means.

The encoding is the standard library's (``xmlrpc.client.dumps``/``loads``); the transport is
aiohttp with HTTP Basic auth. Each vendor module (:mod:`.yealink`, :mod:`.snom`) says which
methods to call with which arguments. Nothing here puts the password in a message or a log line.
"""

from __future__ import annotations

import base64
import re
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

import aiohttp

from . import snom, yealink

PROTOCOLS = {"yealink": yealink, "snom": snom}
NOT_SUPPORTED = {
    "polycom": "not supported yet: Poly ZTP (Lens) has no public API document available to this project; "
    "register Polycom phones in the Poly portal by hand",
    "grandstream": "not supported yet: Grandstream GDMS has no public API document available to this project; "
    "register Grandstream phones in GDMS by hand",
}

OK = "ok"
CONFLICT = "conflict"  # the MAC belongs to another provider's account
REJECTED = "rejected"  # the vendor refuses the MAC or the URL as malformed: not retried
AUTH = "auth"  # our credentials were refused: the account is broken until set again
RETRY = "retry"  # timeout, 5xx, connection refused, an answer we do not understand

_CONFLICT = re.compile(
    r"other[ _-]?(user|account|provider|company)|owned|belongs? to"
    r"|registered by|used by",
    re.I,
)
_REJECTED = re.compile(r"invalid|illegal|malformed|format|wrong (mac|url)|bad (mac|url)", re.I)
_AUTH = re.compile(r"auth|password|credential|login|permission|forbidden|unauthori", re.I)
_ABSENT = re.compile(r"not (exist|found|registered)|no such|does ?n[o']t exist|unknown (device|phone|mac)", re.I)
_URL = re.compile(r"https?://[^\s'\"<>]+")


@dataclass(frozen=True)
class Outcome:
    kind: str  # OK | CONFLICT | REJECTED | AUTH | RETRY
    message: str = ""
    registered: bool | None = None  # a check: whether the vendor holds the MAC
    url: str | None = None  # a check: the URL it holds


def classify(answer: Any, *, op: str) -> Outcome:
    """What a ``[success, message]`` answer means for ``op`` (register, deregister, check)."""
    if isinstance(answer, (list, tuple)) and answer:
        success, message = bool(answer[0]), answer[1] if len(answer) > 1 else ""
    else:
        success, message = bool(answer), ""
    text = message if isinstance(message, str) else str(message)
    text = text[:480]
    if op == "check":
        if not success or _ABSENT.search(text):
            return Outcome(OK, text, registered=False)
        url = None
        if isinstance(message, dict):
            url = next((str(v) for k, v in message.items() if "url" in str(k).lower() and v), None)
        if url is None:
            found = _URL.search(text)
            url = found.group(0) if found else None
        return Outcome(OK, text, registered=True, url=url)
    if success:
        return Outcome(OK, text)
    if op == "deregister" and _ABSENT.search(text):
        return Outcome(OK, text)  # not there: what we wanted
    if _CONFLICT.search(text):
        return Outcome(CONFLICT, text)
    if _AUTH.search(text):
        return Outcome(AUTH, text)
    if _REJECTED.search(text):
        return Outcome(REJECTED, text)
    return Outcome(RETRY, text or "the vendor answered false without a message")


def vendor_mac(mac: str) -> str:
    return mac.upper()


async def call(
    session: aiohttp.ClientSession,
    account: dict[str, Any],
    method: str,
    params: tuple[Any, ...],
    *,
    op: str,
    timeout: float,
) -> Outcome:
    """One XML-RPC call to the account's service, and what its answer means."""
    body = xmlrpc.client.dumps(params, methodname=method, allow_none=False).encode()
    auth = "Basic " + base64.b64encode(f"{account['username']}:{account['password']}".encode()).decode()
    try:
        async with session.post(
            account["rpc_url"],
            data=body,
            allow_redirects=False,
            headers={"Content-Type": "text/xml", "Authorization": auth},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            status = response.status
            text = await response.read()
    except TimeoutError:
        return Outcome(RETRY, f"no answer within {timeout:g} s")
    except aiohttp.ClientError as exc:
        return Outcome(RETRY, f"cannot reach the service: {type(exc).__name__}")
    if status in (401, 403):
        return Outcome(AUTH, f"HTTP {status}: the service refused the account's user name or password")
    if status != 200:
        return Outcome(RETRY if status >= 500 or status == 429 else REJECTED, f"HTTP {status} from the service")
    try:
        answer, _ = xmlrpc.client.loads(text)
    except xmlrpc.client.Fault as fault:
        message = f"fault {fault.faultCode}: {str(fault.faultString)[:400]}"
        if _AUTH.search(str(fault.faultString)):
            return Outcome(AUTH, message)
        if _CONFLICT.search(str(fault.faultString)):
            return Outcome(CONFLICT, message)
        if _REJECTED.search(str(fault.faultString)):
            return Outcome(REJECTED, message)
        return Outcome(RETRY, message)
    except Exception as exc:  # not XML-RPC: a proxy's error page, say
        return Outcome(RETRY, f"not an XML-RPC answer ({type(exc).__name__})")
    return classify(answer[0] if answer else None, op=op)


async def register(
    session: aiohttp.ClientSession, account: dict[str, Any], mac: str, url: str, *, timeout: float
) -> Outcome:
    module = PROTOCOLS[account["vendor"]]
    method, params = module.register(account, vendor_mac(mac), url)
    return await call(session, account, method, params, op="register", timeout=timeout)


async def deregister(session: aiohttp.ClientSession, account: dict[str, Any], mac: str, *, timeout: float) -> Outcome:
    module = PROTOCOLS[account["vendor"]]
    method, params = module.deregister(account, vendor_mac(mac))
    return await call(session, account, method, params, op="deregister", timeout=timeout)


async def check(session: aiohttp.ClientSession, account: dict[str, Any], mac: str, *, timeout: float) -> Outcome:
    module = PROTOCOLS[account["vendor"]]
    method, params = module.check(account, vendor_mac(mac))
    return await call(session, account, method, params, op="check", timeout=timeout)
