# A loopback SMTP server for HeartGuard's tests (aiosmtpd): STARTTLS required or TLS from the first
# byte, AUTH with one user, every message appended as a JSON line to a file. Runs until its stdin
# closes (the test process ends), so it never outlives the test.
import json
import logging
import ssl
import sys
import warnings

# Quiet: AUTH over implicit TLS trips aiosmtpd's STARTTLS-only check, which is why it is off there.
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, cert, key, out, user, password = sys.argv[1:8]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
                # STARTTLS sets session.ssl; implicit TLS shows on the transport.
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                "authenticated": bool(session.authenticated),
            }) + "\n")
        return "250 2.0.0 queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user and auth_data.password.decode() == password)
    return AuthResult(success=ok, handled=False)


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
common = dict(hostname="127.0.0.1", port=int(port), authenticator=authenticator, auth_required=True)
if mode == "starttls":
    controller = Controller(Handler(), tls_context=ctx, require_starttls=True, **common)
else:
    controller = Controller(Handler(), ssl_context=ctx, auth_require_tls=False, **common)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
