"""Dependencies as Annotated aliases: a route's signature says what it needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.auth.jwks import FetchNeeded, JWKSUnavailable
from app.auth.tokens import AccessTokenVerifier, InvalidToken, Principal
from app.clients.fraud import FraudClient
from app.services.capture import TransactionCapture
from fastapi_plumbing.problems import Problem

bearer = HTTPBearer(auto_error=False)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def get_session(sessions: Annotated[sessionmaker[Session], Depends(get_sessions)]) -> Iterator[Session]:
    with sessions() as session:
        yield session


async def get_fraud_client(request: Request) -> FraudClient:
    return request.app.state.fraud_client


async def get_transaction_capture(request: Request) -> TransactionCapture:
    return request.app.state.transaction_capture


SessionDep = Annotated[Session, Depends(get_session)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
FraudClientDep = Annotated[FraudClient, Depends(get_fraud_client)]
TransactionCaptureDep = Annotated[TransactionCapture, Depends(get_transaction_capture)]


async def get_current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)], request: Request
) -> Principal:
    if credentials is None:
        raise Problem(401, "This request needs an access token (Authorization: Bearer).", code="missing_token",
                      headers=_CHALLENGE)
    # Read from the app here rather than through a dependency of its own: every authenticated request pays one.
    verifier: AccessTokenVerifier = request.app.state.token_verifier
    try:
        try:
            # Cached key: checked on the loop (well under a threadpool hop); a key fetch goes to a thread.
            return verifier.verify(credentials.credentials, may_fetch=False)
        except FetchNeeded:
            return await run_in_threadpool(verifier.verify, credentials.credentials)
    except InvalidToken as exc:
        raise Problem(401, f"The access token was refused: {exc}.", code=exc.code, headers=_CHALLENGE) from None
    except JWKSUnavailable:
        # Not the caller's fault: the keys to check the token cannot be had right now.
        raise Problem(503, "The keys that verify access tokens are unavailable right now; retry later.",
                      code="jwks_unavailable", headers={"Retry-After": "5"}) from None


CurrentUser = Annotated[Principal, Depends(get_current_user)]


async def get_staff_user(user: CurrentUser) -> Principal:
    if not user.is_staff:
        raise Problem(403, "Only staff may do this.", code="staff_only")
    return user


StaffUser = Annotated[Principal, Depends(get_staff_user)]
