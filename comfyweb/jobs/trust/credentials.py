"""C2PA content credentials (`c2pa-python`): a signed manifest saying the image was created by an AI model.

Signed with the operator's certificate chain and private key (PEM files named by C2PA_CERT_FILE and
C2PA_KEY_FILE, algorithm C2PA_SIGNING_ALG, optional time-stamp authority C2PA_TSA_URL). Off when the
files are not set.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from django.conf import settings

from comfyweb.jobs.trust.metadata import TRAINED_ALGORITHMIC_MEDIA


def credentials_enabled() -> bool:
    return bool(settings.C2PA_CERT_FILE and settings.C2PA_KEY_FILE)


def manifest(job_id: object) -> dict:
    return {
        "claim_generator_info": [{"name": settings.LABEL_SERVICE_NAME}],
        "title": f"{settings.LABEL_SERVICE_NAME} {job_id}",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]},
            }
        ],
    }


def sign_image(data: bytes, content_type: str, job_id: object) -> bytes:
    """`data` with a signed C2PA manifest embedded (raises c2pa.C2paError or OSError when it cannot be signed)."""
    import c2pa

    info = c2pa.C2paSignerInfo(
        alg=settings.C2PA_SIGNING_ALG.lower().encode(),
        sign_cert=Path(settings.C2PA_CERT_FILE).read_bytes(),
        private_key=Path(settings.C2PA_KEY_FILE).read_bytes(),
        ta_url=settings.C2PA_TSA_URL.encode() if settings.C2PA_TSA_URL else None,
    )
    source, signed = io.BytesIO(data), io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(json.dumps(manifest(job_id))) as builder:
        builder.sign(signer, content_type, source, signed)
    return signed.getvalue()
