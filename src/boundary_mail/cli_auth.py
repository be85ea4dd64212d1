"""`boundary-mail auth login|status|logout`: the OAuth2 sign-in of accounts with auth = "oauth2".

ACCOUNT is a mailbox's name or `smtp`. `login` runs the provider's interactive flow once
(`oauth_login`) and keeps the refresh token in the state directory's token file (0600),
saying where; accounts that share a sign-in (the same person and app registration, e.g. a
mailbox and SMTP) share the file. `status` shows each account's method, whether it is signed
in, when its access token expires and when it was last refreshed. `logout` forgets the
sign-in. No token is ever printed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from boundary_mail.errors import UserError

if TYPE_CHECKING:
    from boundary_mail.config import Config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    auth = sub.add_parser(
        "auth", help="OAuth2 sign-in of accounts with auth = \"oauth2\" (login, status, logout)",
        description="Sign an account in to its OAuth2 provider once (the refresh token is kept"
        " in the state directory), show every account's sign-in, or forget one.",
    )
    actions = auth.add_subparsers(dest="auth_action", metavar="ACTION", required=True)
    login = actions.add_parser("login", help="sign ACCOUNT in (device code, or Google's"
                               " loopback redirect)")
    login.add_argument("account", metavar="ACCOUNT", help="a mailbox's name, or smtp")
    login.add_argument("--local-server", metavar="PORT", type=int, default=None,
                       help="google: receive the redirect on 127.0.0.1:PORT (through an SSH"
                       " tunnel) instead of pasting the address")
    actions.add_parser("status", help="each account's sign-in method, token expiry and last"
                       " refresh")
    logout = actions.add_parser("logout", help="forget ACCOUNT's sign-in (its token file)")
    logout.add_argument("account", metavar="ACCOUNT", help="a mailbox's name, or smtp")
    auth.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    from boundary_mail.sign_ins import account_named, accounts, sign_in_lines

    if args.auth_action == "status":
        print("\n".join(sign_in_lines(config)))
        return 0
    name, account = account_named(config, args.account)
    oauth = account.oauth2
    if oauth is None:
        raise UserError(f"{name} signs in with a password (auth = \"password\"); set auth ="
                        " \"oauth2\" and an oauth2 table to use OAuth2")
    if oauth.token_command is not None:
        raise UserError(f"{name} takes its tokens from token_command {oauth.token_command[0]!r};"
                        " sign in and out with that program")
    from boundary_mail import oauth_tokens

    path = oauth_tokens.token_path(config.state_dir, oauth.token_file_name(account.username))
    if args.auth_action == "logout":
        with oauth_tokens.locked(path):
            gone = oauth_tokens.delete(path)
        print(f"{name}: forgot the sign-in (removed {path}); the app may still be listed in"
              " the account's security settings, where access can be revoked" if gone
              else f"{name}: not signed in (no {path})")
        return 0
    from boundary_mail.oauth_login import save_sign_in, sign_in

    who = oauth.login_user or account.username
    record = sign_in(oauth, who, name, say=lambda text: print(text, flush=True), ask=input,
                     local_port=args.local_server)
    where = save_sign_in(oauth, account.username, record)
    sharing = [n for n, a in accounts(config) if n != name and a.oauth2 is not None
               and a.oauth2.token_file_name(a.username) == path.name]
    print(f"{name}: signed in as {record.user}; the refresh token is kept in {where}"
          " (readable by this user only)" + (f"; it serves {', '.join(sharing)} too" if sharing
                                              else ""))
    return 0
