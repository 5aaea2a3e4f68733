"""Photos of visits and hazards (照片), stored once by the SHA-256 of their content.

``PUT /photos/{sha256}`` takes the raw image (Content-Type image/jpeg, image/png or image/webp); the server reads
at most ``photo_max_bytes`` of it (a declared Content-Length over the cap is refused before reading, a longer
stream as soon as it passes the cap: 413), checks the first bytes against the type (422) and the hash against the
path (422), and stores it: 201, or 200 when the same content is stored already (idempotent, whoever uploaded it).
``GET /photos/{sha256}`` serves it to whoever may see it (its uploader, and whoever sees a visit or hazard showing
it; 404 otherwise). A visit or hazard then names it by ``photo_sha256``."""

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.access import FIELD_READERS, audit
from api.accounts.roles import Principal
from api.deps import EngineDep, PrincipalDep, SettingsDep, require_role
from api.errors import InvalidEntry, NotFound, PayloadTooLarge
from api.storage import Engine, transaction, user_scope
from api.storage import photos as photos_db

router = APIRouter(prefix="/photos", tags=["photos 照片"], dependencies=[Depends(require_role(*FIELD_READERS))])

Sha256 = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the photo's bytes")]
MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp")


def sniff_image(head: bytes) -> str | None:
    """The image type the first bytes say (JPEG, PNG, WebP), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _too_large(cap: int) -> PayloadTooLarge:
    error = PayloadTooLarge(f"the photo is larger than the limit of {cap} bytes (GRIDMAP_PHOTO_MAX_BYTES)")
    error.headers = {"Connection": "close"}  # the rest of the body is left unread
    return error


async def _read_capped(request: Request, cap: int) -> bytes:
    """The body, read as it streams in and refused as soon as it passes `cap` (never more than cap + one chunk
    in memory)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _too_large(cap)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise _too_large(cap)
    return bytes(body)


def _store(engine: Engine, principal: Principal, sha256: str, media_type: str, content: bytes) -> bool:
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        created = photos_db.store_photo(
            conn, sha256=sha256, media_type=media_type, content=content, user_id=principal.user_id
        )
        if created:
            audit(conn, principal, "create", "photos", [], detail={"sha256": sha256, "bytes": len(content)})
    return created


@router.put("/{sha256}", status_code=201, responses={200: {"description": "Stored before"}})
async def put_photo(
    sha256: Sha256, request: Request, engine: EngineDep, principal: PrincipalDep, settings: SettingsDep
) -> JSONResponse:
    """Upload a photo as the raw body; see the module docstring."""
    sha256 = sha256.lower()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        shown = repr(media_type[:60]) if media_type else "none"
        raise InvalidEntry(f"Content-Type: {shown} is not a photo type ({', '.join(MEDIA_TYPES)})")
    content = await _read_capped(request, settings.photo_max_bytes)
    if not content:
        raise InvalidEntry("the body is empty: send the photo's bytes")
    found = sniff_image(content[:16])
    if found != media_type:
        said = f"those of {found}" if found else "of no photo type"
        raise InvalidEntry(f"the body is not {media_type}: its first bytes are {said}")
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise InvalidEntry(f"sha256: the body's SHA-256 is {digest}, not {sha256} as the path says")
    created = await run_in_threadpool(_store, engine, principal, sha256, media_type, content)
    body = {"sha256": sha256, "media_type": media_type, "bytes": len(content)}
    return JSONResponse(body, status_code=201 if created else 200)


@router.get("/{sha256}", response_class=Response, responses={200: {"content": {m: {} for m in MEDIA_TYPES}}})
def get_photo(sha256: Sha256, engine: EngineDep, principal: PrincipalDep) -> Response:
    """The photo, if the user may see it (404 otherwise, as for one not stored)."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        row = photos_db.photo(conn, sha256.lower())
    if row is None:
        raise NotFound(f"no photo {sha256.lower()}")
    headers = {"Cache-Control": "private, max-age=86400", "ETag": f'"{row["sha256"]}"'}
    return Response(bytes(row["content"]), media_type=row["media_type"], headers=headers)
