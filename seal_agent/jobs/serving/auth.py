"""Who may use the server, and what each client sees: LangGraph's custom auth (`langgraph.json`:
`"auth": {"path": "./seal_agent/jobs/serving/auth.py:auth", "disable_studio_auth": true}`).

    SEAL_SERVE_TOKENS="alice:<token>,bob:<token>" langgraph dev --no-browser --allow-blocking

Each client sends `Authorization: Bearer <token>`; the token names the user. Threads, runs
and crons carry their owner in their metadata and each user sees only their own (LangGraph's
resource filters); the store is scoped by user. A run starts with no input of the
client's (the state is the graph's); what a client chooses is the run's context. The assistants are the server owner's: a
client may read and search them, not create, change or delete them. With no
SEAL_SERVE_TOKENS set, only clients on this machine (loopback) are served, all as one user,
`local`. `disable_studio_auth`: LangGraph Studio's own header would otherwise skip this check.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from langgraph_sdk import Auth

TOKENS_ENV = "SEAL_SERVE_TOKENS"
LOCAL_USER = "local"
MIN_TOKEN_CHARS = 16


def parse_tokens(text: str | None) -> dict[str, str]:
    """{user: token} from "user:token,user:token"; a malformed or short entry stops the server."""
    tokens: dict[str, str] = {}
    for entry in (text or "").split(","):
        if not entry.strip():
            continue
        user, colon, token = entry.strip().partition(":")
        if not colon or not user or len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"{TOKENS_ENV}: each entry is user:token, with a token of at least {MIN_TOKEN_CHARS} "
                             f"characters (e.g. from `python -c 'import secrets; print(secrets.token_urlsafe())'`)")
        tokens[user] = token
    return tokens


def is_loopback(host: str | None) -> bool:
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


TOKENS = parse_tokens(os.environ.get(TOKENS_ENV))

auth = Auth()


def unauthorized(detail: str) -> Auth.exceptions.HTTPException:
    return Auth.exceptions.HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def user_of(authorization: str | None, client_host: str | None, tokens: dict[str, str]) -> str:
    """The user a request comes from, or 401."""
    if not tokens:
        if is_loopback(client_host):
            return LOCAL_USER
        raise unauthorized(f"this server has no tokens ({TOKENS_ENV}), so it serves only clients on its own machine")
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("send Authorization: Bearer <token>")
    matches = [user for user, expected in tokens.items() if hmac.compare_digest(token.strip().encode(), expected.encode())]
    if not matches:
        raise unauthorized("unknown token")
    return matches[0]


@auth.authenticate
async def authenticate(authorization: str | None, scope: dict) -> Auth.types.MinimalUserDict:
    client = scope.get("client") or (None, None)
    return {"identity": user_of(authorization, client[0], TOKENS), "is_authenticated": True}


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict) -> Auth.types.FilterType:
    """Threads, runs and crons: stamped with their owner when made, filtered by owner when read."""
    owner = {"owner": ctx.user.identity}
    if isinstance(value, dict):
        metadata = value.setdefault("metadata", {})
        if isinstance(metadata, dict):
            metadata.update(owner)
    return owner


@auth.on.threads.create_run
async def runs_start_from_the_graph(ctx: Auth.types.AuthContext, value: dict) -> Auth.types.FilterType:
    """A served run's state is the graph's own: a run starts with input {} (new) or null (go on),
    with no command; what the client chooses goes in its context."""
    kwargs = value.get("kwargs") or {}
    if kwargs.get("input") not in (None, {}) or kwargs.get("command"):
        raise Auth.exceptions.HTTPException(
            status_code=422, detail="a served run takes input {} (a new run) or null (go on with the thread's run) and "
            "no command; what a client may choose goes in its context: {\"preset\": ..., \"config\": {...}}")
    return await owner_only(ctx, value)


@auth.on.assistants
async def assistants_are_the_servers(ctx: Auth.types.AuthContext, value: dict) -> Auth.types.FilterType | None:
    """The served graphs' assistants are the server owner's: shared for reading, fixed otherwise."""
    if ctx.action in ("read", "search"):
        return None
    raise Auth.exceptions.HTTPException(
        status_code=403, detail="the assistants of this server are its owner's; a client runs them, with the "
        "fields a request may set, and cannot create, change or delete them")


@auth.on.store
async def store_by_user(ctx: Auth.types.AuthContext, value: dict) -> None:
    namespace = tuple(value.get("namespace") or ())
    if not namespace or namespace[0] != ctx.user.identity:
        value["namespace"] = (ctx.user.identity, *namespace)
